//! A checkpoint that shrinks while `yolov3 import` uses it from a memory map: an error naming
//! the file and exit status 1, instead of the kernel's SIGBUS killing the process mid-write.
//!
//! Why a signal handler: `import` maps the checkpoint (yolo-import's `PytorchOptions::map_file`:
//! half the import's time was the kernel zeroing fresh pages for a copy). A mapped page past
//! the file's new end cannot be read, and the kernel says so with SIGBUS at the access, which
//! no `Result` can carry. The handler checks that the fault lies in the checkpoint's map
//! ([`yolo_import::pytorch::mapped_range`]), removes the half-written temporary output, prints
//! the error and exits; a SIGBUS anywhere else goes to the disposition it replaced, as before.
//! It only calls async-signal-safe functions (`unlink`, `write`, `_exit`, `sigaction`) on data
//! prepared before the import.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The message to print (owned by the [`Guard`]), its length, and the temporary output to remove.
static MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);
static TEMP: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
/// The disposition this guard replaced (Rust's runtime installs its own SIGBUS handler for
/// stack guard pages on some platforms): restored on drop, and handed a fault that is not ours.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

/// The installed handler; dropping it restores the disposition it replaced. One at a time.
#[derive(Debug)]
pub struct Guard {
    message: Box<[u8]>,
    temp: Option<CString>,
}

/// Installs the handler for an import of `checkpoint` whose output is being written to `temp`.
#[allow(unsafe_code)]
pub fn install(checkpoint: &Path, temp: Option<&Path>) -> Guard {
    let text = format!(
        "error: {} shrank while it was being imported (another program truncated or rewrote it): its \
         weights can no longer be read; nothing was written. Import it again once it is complete.\n",
        checkpoint.display()
    );
    let mut guard = Guard {
        message: text.into_bytes().into_boxed_slice(),
        temp: temp.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok()),
    };
    MESSAGE_LEN.store(guard.message.len(), Ordering::SeqCst);
    MESSAGE.store(guard.message.as_mut_ptr(), Ordering::SeqCst);
    TEMP.store(guard.temp.as_ref().map_or(std::ptr::null_mut(), |c| c.as_ptr().cast_mut()), Ordering::SeqCst);
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler has the
    // SA_SIGINFO signature, and the data it reads lives in the Guard until `drop` uninstalls it.
    // The previous disposition is written into a leaked box that `drop` restores and frees.
    unsafe {
        let previous: *mut libc::sigaction = Box::into_raw(Box::new(std::mem::zeroed()));
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGBUS, &action, previous) == 0 {
            PREVIOUS.store(previous, Ordering::SeqCst);
        } else {
            drop(Box::from_raw(previous));
        }
    }
    guard
}

impl Drop for Guard {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        let previous = PREVIOUS.swap(std::ptr::null_mut(), Ordering::SeqCst);
        // SAFETY: `previous` is the box `install` leaked (or null): the disposition it holds
        // goes back in place before the box is freed. Then the pointers are cleared, so the
        // message and path this guard owns are no longer reachable from a handler.
        unsafe {
            if previous.is_null() {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            } else {
                libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
                drop(Box::from_raw(previous));
            }
        }
        MESSAGE.store(std::ptr::null_mut(), Ordering::SeqCst);
        TEMP.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

#[allow(unsafe_code)]
extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler; si_addr is the
    // faulting address for a SIGBUS it raised.
    let (address, faulted) = unsafe { ((*info).si_addr() as usize, (*info).si_code > 0) };
    // Ours: a fault the kernel raised (si_code > 0; a SIGBUS sent with `kill` has no address)
    // inside the checkpoint's map.
    let in_map = yolo_import::pytorch::mapped_range().is_some_and(|(start, end)| (start..end).contains(&address));
    let ours = faulted && in_map;
    let message = MESSAGE.load(Ordering::SeqCst);
    if !ours || message.is_null() {
        // Not the checkpoint's map: back to the disposition we replaced (else the default),
        // which the faulting access meets again on return.
        let previous = PREVIOUS.load(Ordering::SeqCst);
        // SAFETY: sigaction, signal and raise are async-signal-safe; `previous` is null or the
        // live box `install` filled; `info` is the kernel's siginfo_t.
        unsafe {
            if previous.is_null() {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            } else {
                libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut());
            }
            // A SIGBUS sent by a process (`kill -BUS`), not a fault, does not repeat on
            // return: send it again, to be delivered to that disposition once this returns.
            if (*info).si_code <= 0 {
                libc::raise(libc::SIGBUS);
            }
        }
        return;
    }
    // SAFETY: unlink, write and _exit are async-signal-safe; the path and message are
    // NUL-terminated / `MESSAGE_LEN` bytes owned by the installed Guard.
    unsafe {
        let temp = TEMP.load(Ordering::SeqCst);
        if !temp.is_null() {
            libc::unlink(temp);
        }
        libc::write(2, message.cast(), MESSAGE_LEN.load(Ordering::SeqCst));
        libc::_exit(1);
    }
}
