//! Where the wgpu backend keeps what it learns between processes.
//!
//! burn's wgpu backend autotunes its kernels (convolution, matmul) on first use; on lavapipe that
//! tuning is most of the ~30 s a new process spends before its first detection. With burn's
//! `persistence` feature cubecl stores the results in a database file and a second process reads
//! them back. Left to itself cubecl puts that file under the *working directory's* Cargo project
//! (`target/environment/default.db`) when there is one and in `~/.cache/cubecl` otherwise, so
//! the same user got a cold start or a warm one depending on where they ran `yolov3`. Here the
//! location is chosen once, before the device is initialised:
//!
//! `wgpu/` under the per-user cache root ([`crate::cache_dir`]: `$YOLOV3_CACHE_DIR`, else the
//! platform's cache directory; an empty variable disables the store, and every process tunes
//! from scratch, as without the feature).
//!
//! Keys: one database per adapter and driver (the file is named after both, so a driver update
//! or a second GPU starts its own), and inside it cubecl scopes every entry by its own version
//! and the device index, and checks each stored result against a checksum of the kernel set
//! that produced it; a stale entry is re-tuned, never used. A corrupt, locked or unwritable
//! file costs a re-tune in memory (cubecl logs it and carries on), never an error for detect.

use std::path::PathBuf;

pub use crate::cache_dir::CACHE_DIR_VAR;

/// Where the wgpu autotune store goes, or `None` when it is disabled.
pub fn location() -> Option<PathBuf> {
    crate::cache_dir::root().map(|root| root.join("wgpu"))
}

/// The database's name for one adapter and driver: cubecl keeps `<root>/<name>.db` and reduces
/// the name to `[A-Za-z0-9._-]` itself; the length is capped here so a long driver string stays
/// a valid file name.
pub fn environment_name(adapter: &str, driver: &str) -> String {
    crate::cache_dir::file_stem(&format!("{adapter}-{driver}"))
}

/// Points cubecl's store at [`location`] for this adapter, before the device is initialised:
/// cubecl's configuration (a `cubecl.toml` the user keeps, `CUBECL_*` variables) is read as
/// cubecl would read it, with the environment's directory and name replaced. Nothing is created
/// here: cubecl opens (and creates) the file on first use, and serves from memory when it cannot.
/// An application that configured cubecl itself before the first wgpu device keeps its setting.
#[cfg(feature = "wgpu")]
pub(crate) fn configure(adapter: &str, driver: &str) {
    use cubecl::config::cache::CacheConfig;
    use cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};

    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    match location() {
        Some(root) => {
            config.environment.path = CacheConfig::Directory(root);
            config.environment.name = environment_name(adapter, driver);
        }
        None => config.autotune.disable_cache = true,
    }
    // `false`: the configuration was already read or set in this process; it stays.
    let _ = CubeClRuntimeConfig::try_set(config);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_are_file_names() {
        assert_eq!(
            environment_name("llvmpipe (LLVM 15.0.6, 256 bits)", "llvmpipe Mesa 22.3.6"),
            "llvmpipe__LLVM_15.0.6__256_bits_-llvmpipe_Mesa_22.3.6"
        );
        assert_eq!(environment_name("", ""), "default");
        assert_eq!(environment_name("../..", "/"), "default");
        assert!(environment_name(&"x".repeat(500), "y").len() <= 120);
    }
}
