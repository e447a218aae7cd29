//! The opcode scanner on raw pickle bytes: never a panic, never a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = yolo_import::pytorch::scan::scan(data, 5);
});
