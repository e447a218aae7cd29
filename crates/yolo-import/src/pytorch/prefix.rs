//! Wrapper prefixes: `module.` (DataParallel, DDP) and `_orig_mod.` (torch.compile), in any
//! nesting. A prefix is stripped only when (nearly) every key carries it.

/// The wrapper prefixes we strip.
pub const WRAPPERS: [&str; 2] = ["module.", "_orig_mod."];

/// The share of keys that must carry a prefix for it to be a wrapper, not a layer name.
const NEARLY_ALL: f64 = 0.95;

/// Strips wrapper prefixes layer by layer; returns the prefixes stripped, outermost first.
pub fn strip(keys: &mut [String]) -> Vec<&'static str> {
    let mut stripped = Vec::new();
    loop {
        let found = WRAPPERS.into_iter().find(|p| {
            let carrying = keys.iter().filter(|k| k.starts_with(p)).count();
            carrying > 0 && carrying as f64 >= NEARLY_ALL * keys.len() as f64
        });
        let Some(prefix) = found else { return stripped };
        for key in keys.iter_mut() {
            if let Some(rest) = key.strip_prefix(prefix) {
                *key = rest.to_string();
            }
        }
        stripped.push(prefix);
    }
}

#[cfg(test)]
mod tests {
    use super::strip;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nested_wrappers_come_off_in_order() {
        let mut k = keys(&["_orig_mod.module.a.weight", "_orig_mod.module.b.weight"]);
        assert_eq!(strip(&mut k), vec!["_orig_mod.", "module."]);
        assert_eq!(k, keys(&["a.weight", "b.weight"]));
        let mut k = keys(&["module.module.a.weight"]);
        assert_eq!(strip(&mut k), vec!["module.", "module."]);
    }

    #[test]
    fn a_layer_named_module_is_kept() {
        // The seed's k[7:] would corrupt these.
        let mut k = keys(&["module_list.0.conv_0.weight", "module.x", "backbone.y", "neck.z"]);
        assert!(strip(&mut k).is_empty());
        assert_eq!(k[0], "module_list.0.conv_0.weight");
    }
}
