//! The corpus, group by group (the groups of issue 11). Each builder writes its files into a
//! scratch directory and returns rows; `the_hostile_corpus_is_handled` runs them all.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::pickle::{contiguous, state_dict, torch_zip, zip_of, Pickle, TensorSpec};
use super::{run_all, scratch, write, Case, Expect};
use crate::common::{fixture, root};

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn p(path: &Path) -> OsString {
    path.as_os_str().to_owned()
}

fn fails(words: &[&'static str]) -> Expect {
    Expect::Fails(words.to_vec())
}

fn succeeds(words: &[&'static str]) -> Expect {
    Expect::Succeeds(words.to_vec())
}

/// `yolov3 import FILE -o DIR/FILE.bpk`.
fn import(group: &'static str, name: &str, file: &Path, extra: &[&str], expect: Expect) -> Case {
    let out = file.with_extension("out.bpk");
    let mut args = vec![OsString::from("import"), p(file), "-o".into(), p(&out), "--quiet".into()];
    args.extend(os(extra));
    Case { group, name: format!("import {name}"), file: Some(file.to_owned()), args, expect }
}

/// `yolov3 inspect FILE`.
fn inspect(group: &'static str, name: &str, file: &Path, expect: Expect) -> Case {
    Case {
        group,
        name: format!("inspect {name}"),
        file: Some(file.to_owned()),
        args: vec!["inspect".into(), p(file)],
        expect,
    }
}

/// `yolov3 detect weights/dog.jpg -w FILE`.
fn detect_w(group: &'static str, name: &str, file: &Path, extra: &[&str], expect: Expect) -> Case {
    let mut args = os(&["detect", "weights/dog.jpg", "--device", "cpu", "-w"]);
    args.push(p(file));
    args.extend(os(extra));
    Case { group, name: format!("detect -w {name}"), file: Some(file.to_owned()), args, expect }
}

/// `yolov3 detect FILE` with the bundled weights.
fn detect_image(group: &'static str, name: &str, file: &Path, expect: Expect) -> Case {
    let mut args = os(&["detect", "--device", "cpu"]);
    args.push(p(file));
    Case { group, name: format!("detect {name}"), file: Some(file.to_owned()), args, expect }
}

/// The tensors of the committed pytorchyolo checkpoint (mini-tiny), rebuilt with fresh values
/// through our own pickle writer: a valid checkpoint every tensor case mutates.
fn base_tensors() -> Vec<TensorSpec> {
    let options = yolo_import::pytorch::PytorchOptions::default();
    let analysis = yolo_import::pytorch::analyse(&fixture("checkpoints/bare.pt"), &options).expect("bare.pt analyses");
    analysis
        .report
        .tensors
        .iter()
        .map(|(key, dtype, shape)| {
            let size: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            let n: usize = shape.iter().product();
            if dtype.contains("64") && !dtype.to_lowercase().contains('f') || key.ends_with("num_batches_tracked") {
                let mut t = TensorSpec::f32(key, &size, &vec![0.0; n]);
                t.storage = "LongStorage".into();
                t.bytes = vec![0u8; 8 * n];
                return t;
            }
            let values: Vec<f32> = if key.contains("anchor") {
                // w,h pairs in pixels, as pytorchyolo's yolo layers hold them.
                (0..n).map(|i| 10.0 + 9.0 * (i % 6) as f32).collect()
            } else if key.ends_with("running_var") || key.contains("batch_norm") && key.ends_with(".weight") {
                vec![1.0; n]
            } else if key.ends_with("running_mean") || key.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|i| ((i * 7919 % 2003) as f32 / 2003.0 - 0.5) * 0.1).collect()
            };
            TensorSpec::f32(key, &size, &values)
        })
        .collect()
}

fn checkpoint(dir: &Path, name: &str, tensors: &[TensorSpec], extra: &[u8]) -> PathBuf {
    write(dir, name, &torch_zip(&state_dict(tensors, extra).0, tensors))
}

fn first_conv(tensors: &[TensorSpec]) -> usize {
    tensors.iter().position(|t| t.key.ends_with("conv_0.weight")).expect("layer 0 conv")
}

fn containers(dir: &Path) -> Vec<Case> {
    let g = "containers";
    let mut cases = Vec::new();
    let dp = std::fs::read(fixture("checkpoints/dp.pt")).expect("dp.pt");
    cases.push(import(g, "empty file", &write(dir, "empty.pt", b""), &[], fails(&[])));
    let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    cases.push(import(g, "random bytes", &write(dir, "random.pt", &noise), &[], fails(&[])));
    for cut in [4, 30, 100, 1000, dp.len() / 3, dp.len() / 2, dp.len() * 9 / 10, dp.len() - 22, dp.len() - 1] {
        let f = write(dir, &format!("cut{cut}.pt"), &dp[..cut]);
        cases.push(import(g, &format!("zip cut at {cut} of {}", dp.len()), &f, &[], fails(&[])));
    }
    // Stale CRC: one byte of a stored tensor changed (torch would load it; the zip reader checks).
    let mut stale = dp.clone();
    let at = dp.len() / 2;
    stale[at] ^= 0x55;
    cases.push(import(g, "stale crc in a tensor entry", &write(dir, "stale_crc.pt", &stale), &[], fails(&[])));
    // Entries missing or truncated: rebuilt archives.
    let entries = read_zip(&fixture("checkpoints/dp.pt"));
    let storage = entries.iter().position(|(n, _)| n.contains("/data/") && !n.ends_with(".pkl")).expect("a storage");
    let mut missing = entries.clone();
    let missing_name = missing.remove(storage).0;
    let f = write(dir, "missing_entry.pt", &zip_of(&missing));
    cases.push(import(g, &format!("entry {missing_name} missing"), &f, &[], fails(&[])));
    let mut short = entries.clone();
    let len = short[storage].1.len();
    short[storage].1.truncate(len / 2);
    cases.push(import(g, "storage entry truncated", &write(dir, "short_entry.pt", &zip_of(&short)), &[], fails(&[])));
    let without_pkl: Vec<_> = entries.iter().filter(|(n, _)| !n.ends_with("data.pkl")).cloned().collect();
    cases.push(import(g, "no data.pkl", &write(dir, "no_pkl.pt", &zip_of(&without_pkl)), &[], fails(&[])));
    // An end-of-central-directory record claiming 65535 entries (the most a plain one holds)
    // and a zip64 one claiming 2^40.
    let mut many = dp.clone();
    let eocd = many.len() - 22;
    assert_eq!(&many[eocd..eocd + 4], b"PK\x05\x06");
    many[eocd + 8..eocd + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    cases.push(import(g, "eocd claims 65535 entries", &write(dir, "many_entries.pt", &many), &[], Expect::Either));
    let mut zip64 = dp[..eocd].to_vec();
    let cd_offset = u32::from_le_bytes(dp[eocd + 16..eocd + 20].try_into().expect("4 bytes")) as u64;
    let cd_size = u32::from_le_bytes(dp[eocd + 12..eocd + 16].try_into().expect("4 bytes")) as u64;
    let record_at = zip64.len() as u64;
    zip64.extend_from_slice(b"PK\x06\x06");
    zip64.extend_from_slice(&44u64.to_le_bytes());
    zip64.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    zip64.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zip64.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zip64.extend_from_slice(&cd_size.to_le_bytes());
    zip64.extend_from_slice(&cd_offset.to_le_bytes());
    zip64.extend_from_slice(b"PK\x06\x07\0\0\0\0");
    zip64.extend_from_slice(&record_at.to_le_bytes());
    zip64.extend_from_slice(&1u32.to_le_bytes());
    zip64.extend_from_slice(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0");
    cases.push(import(g, "zip64 claims 2^40 entries", &write(dir, "zip64_entries.pt", &zip64), &[], fails(&[])));
    // Deflate bombs: a data.pkl and a storage entry that inflate to 1 GiB of zeros.
    cases.push(import(g, "deflated data.pkl bomb", &deflate_bomb(dir, &entries, "data.pkl"), &[], fails(&[])));
    // A storage of 1 GiB of zeros is legitimate; only the tensor's own bytes are read from it.
    cases.push(import(g, "deflated storage bomb", &deflate_bomb(dir, &entries, "/data/0"), &[], succeeds(&[])));
    // Entry names that climb out of the archive.
    let climbing: Vec<_> =
        entries.iter().map(|(n, b)| (n.replacen("archive/", "archive/../../../../tmp/evil/", 1), b.clone())).collect();
    // Nothing is ever extracted to disk, so such names cannot reach outside; they load.
    cases.push(import(g, "entry names with ../", &write(dir, "climb.pt", &zip_of(&climbing)), &[], Expect::Either));
    // Not files.
    let sub = dir.join("a_directory.pt");
    std::fs::create_dir_all(&sub).expect("dir");
    cases.push(import(g, "a directory", &sub, &[], fails(&["directory"])));
    let zero = dir.join("zero.pt");
    let _ = std::fs::remove_file(&zero);
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    cases.push(import(g, "a symlink to /dev/zero", &zero, &[], fails(&[])));
    cases.push(inspect(g, "a symlink to /dev/zero", &zero, fails(&[])));
    let legacy = std::fs::read(fixture("checkpoints/legacy.pt")).expect("legacy.pt");
    for cut in [2, 20, legacy.len() / 2, legacy.len() - 1] {
        let f = write(dir, &format!("legacy_cut{cut}.pt"), &legacy[..cut]);
        cases.push(import(g, &format!("legacy stream cut at {cut}"), &f, &[], fails(&[])));
    }
    cases
}

fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).expect("open")).expect("zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("entry");
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            (entry.name().expect("name").to_string(), bytes)
        })
        .collect()
}

fn deflate_bomb(dir: &Path, entries: &[(String, Vec<u8>)], target: &str) -> PathBuf {
    use std::io::Write as _;
    let name = format!("bomb_{}.pt", target.replace(['/', '.'], "_"));
    let path = dir.join(&name);
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
    let zeros = vec![0u8; 1 << 20];
    for (entry, bytes) in entries {
        if entry.ends_with(target) {
            writer.start_file(entry.as_str(), deflated).expect("start");
            for _ in 0..1024 {
                writer.write_all(&zeros).expect("write");
            }
        } else {
            writer.start_file(entry.as_str(), stored).expect("start");
            writer.write_all(bytes).expect("write");
        }
    }
    writer.finish().expect("finish");
    path
}

fn pickles(dir: &Path) -> Vec<Case> {
    let g = "pickles";
    let mut cases = Vec::new();
    let tensors = base_tensors();
    let marker = dir.join("PWNED");
    let command = format!("touch {}", marker.display());
    let routes: Vec<(&str, Vec<u8>)> = vec![
        ("GLOBAL os.system", Pickle(vec![]).call_system("os", "system", &command).0.clone()),
        ("GLOBAL posix.system", Pickle(vec![]).call_system("posix", "system", &command).0.clone()),
        ("GLOBAL nt.system", Pickle(vec![]).call_system("nt", "system", &command).0.clone()),
        ("GLOBAL builtins.exec", Pickle(vec![]).call_system("builtins", "exec", "import os").0.clone()),
        ("GLOBAL builtins.eval", Pickle(vec![]).call_system("builtins", "eval", "1").0.clone()),
        ("GLOBAL __builtin__.eval (protocol 2)", Pickle(vec![]).call_system("__builtin__", "eval", "1").0.clone()),
        ("GLOBAL subprocess.Popen", Pickle(vec![]).call_system("subprocess", "Popen", &command).0.clone()),
        ("STACK_GLOBAL os.system", {
            let mut p = Pickle(vec![]);
            p.raw(b"\x8c\x02os\x8c\x06system\x93(").str(&command).raw(b"tR0");
            p.0
        }),
        ("INST os.system", {
            let mut p = Pickle(vec![]);
            p.raw(b"(").str(&command).raw(b"ios\nsystem\n0");
            p.0
        }),
        ("OBJ os.system", {
            let mut p = Pickle(vec![]);
            p.raw(b"(").global("os", "system").str(&command).raw(b"o0");
            p.0
        }),
    ];
    for (route, payload) in &routes {
        let stem = route.replace([' ', '.', '(', ')'], "_");
        // Inside a torch zip, before the state dict's entries.
        let f = checkpoint(dir, &format!("zip_{stem}.pt"), &tensors, payload);
        cases.push(import(g, &format!("{route} in a torch zip"), &f, &[], fails(&["--ignore-pickle-code"])));
        cases.push(inspect(
            g,
            &format!("{route} in a torch zip"),
            &f,
            Expect::Reports(vec!["weights_only=False): YES"]),
        ));
        // A bare pickle file.
        let mut bare = Pickle::new();
        bare.raw(payload).raw(b"}.");
        let f = write(dir, &format!("bare_{stem}.pkl"), &bare.0);
        cases.push(import(g, &format!("{route} in a bare pickle"), &f, &[], fails(&[])));
        // A legacy (pre-1.6) stream: magic number, protocol, sys info, then the payload.
        let f = write(dir, &format!("legacy_{stem}.pt"), &legacy_stream(payload));
        cases.push(import(g, &format!("{route} in a legacy stream"), &f, &[], fails(&[])));
    }
    // Hidden in an otherwise valid trainer checkpoint's metadata: {"model": sd, "epoch": <call>}.
    let mut p = Pickle::new();
    p.raw(b"}(").str("model").global("collections", "OrderedDict").raw(b")R(");
    for (i, t) in tensors.iter().enumerate() {
        p.str(&t.key).tensor(t, &i.to_string());
    }
    p.raw(b"u").str("epoch").global("os", "system").raw(b"(").str(&command).raw(b"tRu.");
    let f = write(dir, "epoch_payload.pt", &torch_zip(&p.0, &tensors));
    cases.push(import(g, "os.system as the epoch of a valid checkpoint", &f, &[], fails(&["os.system"])));
    cases.push(detect_w(g, "os.system as the epoch of a valid checkpoint", &f, &[], fails(&["os.system"])));
    cases.push(import(g, "the same with --ignore-pickle-code", &f, &["--ignore-pickle-code"], succeeds(&[])));
    // Structure attacks.
    let deep = [vec![0x80, 2], vec![b']'; 100_000], vec![b'a'; 99_999], b".".to_vec()].concat();
    cases.push(import(g, "100k-deep nested lists", &write(dir, "deep.pkl", &deep), &[], fails(&[])));
    let deep_zip = torch_zip(&deep, &[]);
    cases.push(import(g, "100k-deep nesting in a zip", &write(dir, "deep_zip.pt", &deep_zip), &[], fails(&[])));
    let marks = [vec![0x80, 2], vec![b'('; 100_000], b".".to_vec()].concat();
    cases.push(import(g, "100k MARKs", &write(dir, "marks.pt", &torch_zip(&marks, &[])), &[], fails(&[])));
    // Billion laughs: a list holding itself ten times, nested 40 deep through the memo.
    let mut laughs = Pickle::new();
    laughs.raw(b"]q\x00");
    for level in 1..40u8 {
        laughs.raw(b"(");
        for _ in 0..10 {
            laughs.raw(&[b'h', level - 1]);
        }
        laughs.raw(b"l").raw(&[b'q', level]);
    }
    laughs.raw(b".");
    let f = write(dir, "laughs.pt", &torch_zip(&laughs.0, &[]));
    cases.push(import(g, "memo reference explosion", &f, &[], fails(&[])));
    cases.push(inspect(g, "memo reference explosion", &f, Expect::Either));
    let mut lie = Pickle::new();
    lie.raw(b"\x8d").raw(&(1u64 << 60).to_le_bytes()).raw(b"abc.");
    cases.push(import(
        g,
        "BINUNICODE8 claims 2^60 bytes",
        &write(dir, "binunicode8.pt", &torch_zip(&lie.0, &[])),
        &[],
        fails(&[]),
    ));
    let mut frame = Pickle(vec![0x80, 4]);
    frame.raw(b"\x95").raw(&(1u64 << 40).to_le_bytes()).raw(b"}.");
    cases.push(import(
        g,
        "FRAME claims 2^40 bytes",
        &write(dir, "frame.pt", &torch_zip(&frame.0, &[])),
        &[],
        fails(&[]),
    ));
    let full = state_dict(&tensors, b"").0;
    let cut = &full[..full.len() - 1];
    cases.push(import(
        g,
        "stream cut before STOP",
        &write(dir, "no_stop.pt", &torch_zip(cut, &tensors)),
        &[],
        fails(&[]),
    ));
    let half = &full[..full.len() / 2];
    cases.push(import(
        g,
        "stream cut in half",
        &write(dir, "half_pickle.pt", &torch_zip(half, &tensors)),
        &[],
        fails(&[]),
    ));
    // _rebuild_tensor_v2 with nonsense arguments: a string where the size tuple goes.
    let mut nonsense = Pickle::new();
    nonsense.global("collections", "OrderedDict").raw(b")R(").str(&tensors[0].key);
    nonsense.global("torch._utils", "_rebuild_tensor_v2").raw(b"(");
    nonsense.raw(b"(").str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4).raw(b"tQ");
    nonsense.int(0).str("not a size").str("nor a stride").raw(b"\x89").raw(b"}tRu.");
    let f = write(dir, "nonsense_args.pt", &torch_zip(&nonsense.0, &tensors[..1]));
    cases.push(import(g, "_rebuild_tensor_v2 with a string size", &f, &[], fails(&[])));
    let mut unknown = tensors.clone();
    let conv = first_conv(&unknown);
    unknown[conv].storage = "EvilStorage".into();
    let f = checkpoint(dir, "unknown_storage.pt", &unknown, b"");
    cases.push(import(g, "unknown storage type", &f, &[], fails(&["EvilStorage"])));
    cases
}

/// A pre-1.6 `torch.save` stream: magic number, protocol version, sys info, then `payload`
/// followed by an empty dict, and an empty storage-key list.
fn legacy_stream(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut magic = Pickle::new();
    magic.raw(&[0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]).raw(b".");
    out.extend_from_slice(&magic.0);
    let mut protocol = Pickle::new();
    protocol.int(1001).raw(b".");
    out.extend_from_slice(&protocol.0);
    let mut info = Pickle::new();
    info.raw(b"}(").str("little_endian").raw(b"\x88u.");
    out.extend_from_slice(&info.0);
    let mut body = Pickle::new();
    body.raw(payload).raw(b"}.");
    out.extend_from_slice(&body.0);
    let mut keys = Pickle::new();
    keys.raw(b"].");
    out.extend_from_slice(&keys.0);
    out
}

fn tensor_views(dir: &Path) -> Vec<Case> {
    let g = "tensors";
    let mut cases = Vec::new();
    let tensors = base_tensors();
    let conv = first_conv(&tensors);
    let f = checkpoint(dir, "valid_rebuilt.pt", &tensors, b"");
    cases.push(import(g, "the rebuilt valid checkpoint (control)", &f, &[], succeeds(&[])));
    let mut variant = |name: &str, file: &str, edit: &dyn Fn(&mut TensorSpec), expect: Expect| {
        let mut t = tensors.clone();
        edit(&mut t[conv]);
        let f = checkpoint(dir, file, &t, b"");
        cases.push(import(g, name, &f, &[], expect));
    };
    variant(
        "a 4-float storage viewed as the conv's shape",
        "small_storage.pt",
        &|t| {
            t.numel = 4;
            t.bytes.truncate(16);
        },
        fails(&["needs 27 elements"]),
    );
    variant("storage file shorter than its numel", "short_bytes.pt", &|t| t.bytes.truncate(8), fails(&[]));
    variant("negative size", "negative_size.pt", &|t| t.size[0] = -16, fails(&[]));
    variant("negative stride", "negative_stride.pt", &|t| t.stride[0] = -27, fails(&[]));
    variant("overflowing stride", "huge_stride.pt", &|t| t.stride[1] = 1 << 62, fails(&[]));
    variant("offset past the storage", "offset.pt", &|t| t.offset = 1 << 40, fails(&[]));
    variant("negative offset", "negative_offset.pt", &|t| t.offset = -1, fails(&[]));
    variant(
        "numel product wrapping u64",
        "wrap.pt",
        &|t| {
            t.size = vec![1 << 32, 1 << 32, 16, 1];
            t.stride = vec![0, 0, 0, 0];
        },
        fails(&[]),
    );
    // A stride-0 view that would materialise 8 GiB if read before its shape is checked; as the
    // first conv's weight it also claims a layer of 2^21 filters.
    variant(
        "stride-0 view of gigabytes",
        "stride0_huge.pt",
        &|t| {
            t.size = vec![1 << 21, 3, 32, 32];
            t.stride = vec![0, 0, 0, 0];
            t.numel = 1;
            t.bytes.truncate(4);
        },
        fails(&[]),
    );
    // A stride-0 view of the right shape is what `torch.save(w.expand(...))` writes: legitimate.
    variant(
        "stride-0 view of the right shape",
        "stride0_ok.pt",
        &|t| {
            t.stride = vec![0; t.size.len()];
            t.numel = 1;
            t.bytes.truncate(4);
        },
        succeeds(&[]),
    );
    variant(
        "a transposed (non-contiguous) view",
        "transposed.pt",
        &|t| {
            let (a, b) = (t.size[2], t.size[3]);
            t.size.swap(2, 3);
            t.stride = contiguous(&t.size);
            t.stride.swap(2, 3);
            assert_eq!(a, b);
        },
        succeeds(&[]),
    );
    // Stride-0 views that make two layers 16384 filters wide: a consistent topology whose model
    // would need 10 GB (each view under the reader's 10 GiB limit); refused before anything is
    // allocated.
    let mut wide = tensors.clone();
    let conv2 = wide.iter().position(|t| t.key.ends_with("conv_2.weight")).expect("layer 2");
    for (i, size) in [(conv, vec![16384, 3, 3, 3]), (conv2, vec![16384, 16384, 3, 3])] {
        wide[i].size = size;
        wide[i].stride = vec![0, 0, 0, 0];
        wide[i].numel = 1;
        wide[i].bytes.truncate(4);
    }
    let f = checkpoint(dir, "wide_stride0.pt", &wide, b"");
    cases.push(import(g, "stride-0 views claiming a 10 GB model", &f, &[], fails(&["parameters"])));
    // Thousands of junk keys beside the real ones.
    let mut junk = tensors.clone();
    for i in 0..3000 {
        junk.push(TensorSpec::f32(&format!("junk.layer{i}.weight"), &[2], &[1.0, 2.0]));
    }
    let f = checkpoint(dir, "junk_keys.pt", &junk, b"");
    cases.push(import(g, "3000 junk keys", &f, &[], fails(&["junk.layer"])));
    cases.push(import(g, "3000 junk keys with --allow-partial", &f, &["--allow-partial"], succeeds(&[])));
    // Duplicate key: torch keeps the last value; a wrong-shaped last value must be named.
    let mut dup = tensors.clone();
    let mut wrong = tensors[conv].clone();
    wrong.size = vec![2, 2];
    wrong.stride = vec![2, 1];
    dup.push(wrong);
    let f = checkpoint(dir, "duplicate_key.pt", &dup, b"");
    cases.push(import(g, "duplicate key, wrong-shaped last value", &f, &[], fails(&["[2, 2]"])));
    // A non-string key beside the real ones.
    let mut extra = Pickle(vec![]);
    extra.int(7).tensor(&TensorSpec::f32("x", &[1], &[1.0]), "extra");
    let mut with_int = tensors.clone();
    let mut t = TensorSpec::f32("x", &[1], &[1.0]);
    t.key = "unused".into();
    with_int.push(t);
    let zip = {
        let pickle = state_dict(&tensors, &extra.0).0;
        let mut entries = vec![("archive/data.pkl".to_string(), pickle)];
        for (i, t) in tensors.iter().enumerate() {
            entries.push((format!("archive/data/{i}"), t.bytes.clone()));
        }
        entries.push(("archive/data/extra".into(), 1.0f32.to_le_bytes().to_vec()));
        entries.push(("archive/version".into(), b"3\n".to_vec()));
        zip_of(&entries)
    };
    let f = write(dir, "int_key.pt", &zip);
    cases.push(import(g, "an integer key", &f, &[], fails(&["7"])));
    cases
}

fn semantics(dir: &Path) -> Vec<Case> {
    let g = "semantics";
    let mut cases = Vec::new();
    let tensors = base_tensors();
    let conv = first_conv(&tensors);
    let key = tensors[conv].key.clone();
    let resnet = vec![
        TensorSpec::f32("conv1.weight", &[4, 3, 7, 7], &[0.1; 588]),
        TensorSpec::f32("bn1.weight", &[4], &[1.0; 4]),
        TensorSpec::f32("fc.weight", &[10, 4], &[0.1; 40]),
    ];
    cases.push(import(
        g,
        "a non-YOLO state dict",
        &checkpoint(dir, "resnet.pt", &resnet, b""),
        &[],
        fails(&["conv1.weight"]),
    ));
    let mut reshaped = tensors.clone();
    let s = reshaped[conv].size.clone();
    reshaped[conv].size = vec![s[1], s[0], s[2], s[3]];
    reshaped[conv].stride = contiguous(&reshaped[conv].size);
    let f = checkpoint(dir, "wrong_shape.pt", &reshaped, b"");
    cases.push(import(g, "right numel, wrong shape", &f, &[], fails(&[key.clone().leak()])));
    let mut missing = tensors.clone();
    let gone = missing.iter().position(|t| t.key.contains("conv_4.weight")).expect("layer 4");
    let gone_key = missing.remove(gone).key;
    let f = checkpoint(dir, "missing_layer.pt", &missing, b"");
    cases.push(import(g, "a layer missing", &f, &[], fails(&[gone_key.clone().leak()])));
    let mut f64s = tensors.clone();
    for t in f64s.iter_mut().filter(|t| t.storage == "FloatStorage") {
        t.storage = "DoubleStorage".into();
        t.bytes = t
            .bytes
            .chunks_exact(4)
            .flat_map(|c| (f32::from_le_bytes(c.try_into().expect("4")) as f64).to_le_bytes())
            .collect();
    }
    cases.push(import(g, "f64 weights (cast)", &checkpoint(dir, "f64.pt", &f64s, b""), &[], succeeds(&["f64"])));
    let mut ints = tensors.clone();
    ints[conv].storage = "IntStorage".into();
    ints[conv].bytes = vec![0u8; ints[conv].bytes.len()];
    cases.push(import(
        g,
        "int32 conv weights",
        &checkpoint(dir, "int_weights.pt", &ints, b""),
        &[],
        fails(&["I32", "floating point"]),
    ));
    for (name, value) in [("nan", f32::NAN), ("inf", f32::INFINITY)] {
        let mut bad = tensors.clone();
        bad[conv].bytes[..4].copy_from_slice(&value.to_le_bytes());
        let f = checkpoint(dir, &format!("{name}_weight.pt"), &bad, b"");
        cases.push(import(g, &format!("{name} in a weight"), &f, &[], fails(&[key.clone().leak()])));
        cases.push(detect_w(g, &format!("{name} in a weight"), &f, &[], fails(&[key.clone().leak()])));
    }
    let mut negative = tensors.clone();
    let var = negative.iter().position(|t| t.key.ends_with("running_var")).expect("a BN");
    let var_key = negative[var].key.clone();
    negative[var].bytes[..4].copy_from_slice(&(-1.0f32).to_le_bytes());
    let f = checkpoint(dir, "negative_var.pt", &negative, b"");
    cases.push(import(g, "negative BN variance", &f, &[], fails(&[var_key.clone().leak()])));
    let mut empty = Pickle::new();
    empty.raw(b"}.");
    cases.push(import(g, "{}", &write(dir, "empty_dict.pt", &torch_zip(&empty.0, &[])), &[], fails(&["no"])));
    let mut numbers = Pickle::new();
    numbers.raw(b"}(").str("epoch").int(3).str("lr").int(1).raw(b"u.");
    cases.push(import(g, "no tensors", &write(dir, "no_tensors.pt", &torch_zip(&numbers.0, &[])), &[], fails(&["no"])));
    let mut scalar = tensors.clone();
    scalar[conv].size = vec![];
    scalar[conv].stride = vec![];
    let f = checkpoint(dir, "scalar.pt", &scalar, b"");
    cases.push(import(g, "a scalar where a tensor belongs", &f, &[], fails(&[key.clone().leak()])));
    // A float where a tensor belongs.
    let mut floaty = Pickle::new();
    floaty.global("collections", "OrderedDict").raw(b")R(");
    for (i, t) in tensors.iter().enumerate() {
        floaty.str(&t.key);
        if i == conv {
            floaty.raw(b"G").raw(&0.5f64.to_be_bytes());
        } else {
            floaty.tensor(t, &i.to_string());
        }
    }
    floaty.raw(b"u.");
    let f = write(dir, "float_for_tensor.pt", &torch_zip(&floaty.0, &tensors));
    cases.push(import(g, "a float where a tensor belongs", &f, &[], fails(&[key.clone().leak()])));
    // Fits another architecture / class count.
    let dp = fixture("checkpoints/dp.pt");
    cases.push(import(g, "tiny checkpoint --arch yolov3", &dp, &["--arch", "yolov3"], fails(&["yolov3"])));
    cases.push(import(g, "3-class checkpoint --classes 80", &dp, &["--classes", "80"], fails(&["80"])));
    let mut names = detect_w(
        g,
        "3-class checkpoint with the 80-name COCO list",
        &dp,
        &["--names", "weights/coco.names"],
        fails(&["80", "3"]),
    );
    names.file = Some(root().join("weights/coco.names"));
    cases.push(names);
    cases
}

fn other_formats(dir: &Path) -> Vec<Case> {
    let g = "formats";
    let mut cases = Vec::new();
    let weights = std::fs::read(root().join("weights/yolov3-tiny.weights")).expect("weights");
    let dw = |name: &str, bytes: &[u8]| write(dir, name, bytes);
    cases.push(detect_w(
        g,
        "darknet short by 4 bytes",
        &dw("short4.weights", &weights[..weights.len() - 4]),
        &[],
        fails(&[]),
    ));
    cases.push(detect_w(
        g,
        "darknet long by 4 bytes",
        &dw("long4.weights", &[&weights[..], &[0; 4]].concat()),
        &[],
        fails(&[]),
    ));
    cases.push(detect_w(g, "darknet header only", &dw("header.weights", &weights[..20]), &[], fails(&[])));
    cases.push(detect_w(g, "darknet empty", &dw("empty.weights", b""), &[], fails(&[])));
    let mut transposed = weights.clone();
    transposed[..4].copy_from_slice(&1000u32.to_le_bytes());
    cases.push(detect_w(g, "darknet major version 1000", &dw("major.weights", &transposed), &[], fails(&[])));
    // v0.1 header (12-byte count) on a file laid out with the 20-byte header: 4 bytes long.
    let mut old = weights.clone();
    old[..12].copy_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    cases.push(detect_w(g, "darknet v0.1 header on a 20-byte-header file", &dw("v01.weights", &old), &[], fails(&[])));
    let mut nan = weights.clone();
    nan[20..24].copy_from_slice(&f32::NAN.to_le_bytes());
    cases.push(detect_w(g, "darknet NaN weights", &dw("nan.weights", &nan), &[], fails(&["nan"])));
    cases.push(import(g, "darknet short by 4 bytes", &dir.join("short4.weights"), &[], fails(&[])));
    // Burnpacks.
    let bpk = dir.join("tiny.bpk");
    let out = crate::common::binary()
        .args(["import", "weights/yolov3-tiny.weights", "-o"])
        .arg(&bpk)
        .arg("--quiet")
        .output()
        .expect("import runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = std::fs::read(&bpk).expect("bpk");
    for cut in [0, 8, 100, good.len() / 2, good.len() - 1] {
        let f = dw(&format!("cut{cut}.bpk"), &good[..cut]);
        cases.push(detect_w(g, &format!("bpk cut at {cut}"), &f, &[], fails(&[])));
    }
    let mut zeroed = good.clone();
    let len = zeroed.len();
    zeroed[len / 4..len / 2].fill(0);
    cases.push(detect_w(g, "bpk zeroed in the middle", &dw("zeroed.bpk", &zeroed), &[], fails(&[])));
    cases.push(detect_w(g, "bpk all zeros", &dw("allzero.bpk", &vec![0; good.len()]), &[], fails(&[])));
    cases.push(detect_w(g, "not a burnpack", &dw("text.bpk", b"hello, I am not a burnpack\n"), &[], fails(&[])));
    // safetensors is not a supported format: named as such, whatever the header says.
    let mut st = (u64::MAX / 2).to_le_bytes().to_vec();
    st.extend_from_slice(b"{\"a\":1}");
    cases.push(detect_w(g, "safetensors with a lying header length", &dw("lying.safetensors", &st), &[], fails(&[])));
    let mut st = 12u64.to_le_bytes().to_vec();
    st.extend_from_slice(b"not json!!!!");
    cases.push(detect_w(g, "safetensors with a non-JSON header", &dw("nonjson.safetensors", &st), &[], fails(&[])));
    cases
}

fn cfgs(dir: &Path) -> Vec<Case> {
    let g = "cfg";
    let mut cases = Vec::new();
    let tiny = std::fs::read_to_string(root().join("weights/yolov3-tiny.cfg")).expect("cfg");
    let mut cfg_case = |name: &str, file: &str, text: &[u8], expect: Expect| {
        let f = write(dir, file, text);
        let mut args =
            os(&["detect", "weights/dog.jpg", "--device", "cpu", "-w", "weights/yolov3-tiny.weights", "--cfg"]);
        args.push(p(&f));
        cases.push(Case { group: g, name: format!("cfg {name}"), file: Some(f), args, expect });
    };
    let edit = |from: &str, to: &str| {
        assert!(tiny.contains(from), "{from}");
        tiny.replacen(from, to, 1).into_bytes()
    };
    cfg_case(
        "unknown section",
        "section.cfg",
        &[tiny.as_bytes(), b"\n[teleport]\nx=1\n"].concat(),
        fails(&["teleport"]),
    );
    cfg_case("unknown key", "key.cfg", &edit("batch_normalize=1", "batch_normalize=1\nflux=3"), fails(&["flux"]));
    cfg_case(
        "route out of range",
        "route.cfg",
        &edit("layers = -4", "layers = -400"),
        fails(&["not an earlier layer"]),
    );
    cfg_case("route forward", "route_fwd.cfg", &edit("layers = -4", "layers = 40"), fails(&["40"]));
    cfg_case("mask out of range", "mask.cfg", &edit("mask = 3,4,5", "mask = 3,4,99"), fails(&["99"]));
    cfg_case("zero filters", "zero_filters.cfg", &edit("filters=16", "filters=0"), fails(&["filters"]));
    cfg_case("negative filters", "neg_filters.cfg", &edit("filters=16", "filters=-16"), fails(&["filters"]));
    cfg_case("absurd filters", "absurd_filters.cfg", &edit("filters=16", "filters=99999999999"), fails(&["filters"]));
    cfg_case("zero size", "zero_size.cfg", &edit("size=3", "size=0"), fails(&["size"]));
    cfg_case("zero stride", "zero_stride.cfg", &edit("stride=1", "stride=0"), fails(&["stride"]));
    cfg_case("absurd stride", "absurd_stride.cfg", &edit("stride=1", "stride=4096"), fails(&["stride"]));
    cfg_case(
        "unknown activation",
        "activation.cfg",
        &edit("activation=leaky", "activation=sparkly"),
        fails(&["sparkly"]),
    );
    cfg_case(
        "head filters not len(mask)*(classes+5)",
        "head.cfg",
        &edit("filters=255", "filters=254"),
        fails(&["254"]),
    );
    cfg_case("empty", "empty.cfg", b"", fails(&[]));
    cfg_case("binary junk", "junk.cfg", &[0xff, 0xfe, 0, 1, 2, 3], fails(&[]));
    cfg_case("CRLF line ends (works)", "crlf.cfg", tiny.replace('\n', "\r\n").as_bytes(), succeeds(&["dog"]));
    cfg_case("UTF-8 BOM (works)", "bom.cfg", &[b"\xef\xbb\xbf", tiny.as_bytes()].concat(), succeeds(&["dog"]));
    let mut big = tiny.clone().into_bytes();
    let comment = b"# padding padding padding padding padding padding padding padding padding\n";
    while big.len() < 50 << 20 {
        big.extend_from_slice(comment);
    }
    cfg_case("50 MB cfg", "big.cfg", &big, fails(&[]));
    let sub = dir.join("a_directory.cfg");
    std::fs::create_dir_all(&sub).expect("dir");
    let mut args = os(&["detect", "weights/dog.jpg", "--device", "cpu", "-w", "weights/yolov3-tiny.weights", "--cfg"]);
    args.push(p(&sub));
    cases.push(Case { group: g, name: "cfg a directory".into(), file: Some(sub), args, expect: fails(&["directory"]) });
    cases
}

fn images(dir: &Path) -> Vec<Case> {
    let g = "images";
    let mut cases = Vec::new();
    let dog = std::fs::read(root().join("weights/dog.jpg")).expect("dog.jpg");
    let img = |name: &str, bytes: &[u8]| write(dir, name, bytes);
    cases.push(detect_image(g, "empty", &img("empty.jpg", b""), fails(&[])));
    cases.push(detect_image(g, "text named .jpg", &img("text.jpg", b"just some text\n"), fails(&[])));
    cases.push(detect_image(g, "JPEG cut in its header", &img("cut_header.jpg", &dog[..200]), fails(&[])));
    cases.push(detect_image(
        g,
        "JPEG cut in its scan",
        &img("cut_scan.jpg", &dog[..dog.len() * 2 / 3]),
        fails(&["truncated"]),
    ));
    cases.push(detect_image(
        g,
        "JPEG missing its last 2 bytes",
        &img("cut_eoi.jpg", &dog[..dog.len() - 2]),
        fails(&[]),
    ));
    // PNG headers claiming 100000x100000, with a valid CRC.
    cases.push(detect_image(
        g,
        "PNG claiming 100000x100000",
        &img("huge.png", &png_header(100_000, 100_000)),
        fails(&["100000"]),
    ));
    // A JPEG whose SOF claims 65500x65500.
    let mut huge_jpeg = dog.clone();
    let sof = huge_jpeg.windows(2).position(|w| w == [0xff, 0xc0] || w == [0xff, 0xc2]).expect("SOF");
    huge_jpeg[sof + 5..sof + 9].copy_from_slice(&[0xff, 0xdc, 0xff, 0xdc]);
    cases.push(detect_image(g, "JPEG claiming 65500x65500", &img("huge.jpg", &huge_jpeg), fails(&["65500"])));
    // Decompression bomb: 16000x16000 grey PNG (a 256 MB image) deflated to ~250 kB.
    cases.push(detect_image(g, "PNG decompression bomb 16000x16000", &png_bomb(dir, 16_000, 16_000), fails(&[])));
    // Scrambled deflate in a real PNG.
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8, y as u8, 7])))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("png");
    let idat = png.windows(4).position(|w| w == b"IDAT").expect("IDAT");
    let mut scrambled = png.clone();
    for b in &mut scrambled[idat + 8..idat + 40] {
        *b ^= 0xa5;
    }
    cases.push(detect_image(g, "PNG with scrambled deflate", &img("scrambled.png", &scrambled), fails(&[])));
    // Odd but valid images.
    let save = |name: &str, image: image::DynamicImage| {
        let path = dir.join(name);
        image.save(&path).expect("save");
        path
    };
    let valid: Vec<(&str, PathBuf)> = vec![
        (
            "1x1 PNG",
            save("one.png", image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(1, 1, image::Rgb([9, 9, 9])))),
        ),
        (
            "16-bit PNG",
            save(
                "deep.png",
                image::DynamicImage::ImageRgb16(image::ImageBuffer::from_fn(40, 30, |x, y| {
                    image::Rgb([(x * 1000) as u16, (y * 2000) as u16, 5])
                })),
            ),
        ),
        (
            "grey+alpha PNG",
            save(
                "greya.png",
                image::DynamicImage::ImageLumaA8(image::ImageBuffer::from_fn(33, 17, |x, y| {
                    image::LumaA([(x + y) as u8, 128])
                })),
            ),
        ),
        ("a .png that is really a JPEG", img("really_jpeg.png", &dog)),
        ("progressive JPEG", fixture("odd_images/progressive.jpg")),
        ("CMYK JPEG", fixture("odd_images/cmyk.jpg")),
        ("grey JPEG", fixture("odd_images/grey.jpg")),
        ("palette PNG", fixture("odd_images/palette.png")),
    ];
    for (name, path) in valid {
        cases.push(detect_image(g, name, &path, succeeds(&[])));
    }
    // One bad image among good ones: the good are reported, the bad named, exit non-zero.
    let mut args = os(&["detect", "--device", "cpu", "weights/dog.jpg"]);
    args.push(p(&dir.join("text.jpg")));
    args.push(p(&dir.join("one.png")));
    cases.push(Case {
        group: g,
        name: "a bad image among good ones".into(),
        file: Some(dir.join("text.jpg")),
        args,
        expect: fails(&["1 of 3"]),
    });
    cases
}

fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    // An empty zlib stream and the end: a file that is all header.
    let mut idat = b"IDAT".to_vec();
    idat.extend_from_slice(&[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&idat);
    out.extend_from_slice(&crc32(&idat).to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(b"IEND");
    out.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A grey PNG of zeros, written row by row through the png encoder (never held whole).
fn png_bomb(dir: &Path, width: u32, height: u32) -> PathBuf {
    use image::ImageEncoder as _;
    let path = dir.join("bomb.png");
    // 256 MB of zeros is fine to hold for the writer (the test process, not the one under test).
    let pixels = vec![0u8; width as usize * height as usize];
    let file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
    image::codecs::png::PngEncoder::new_with_quality(
        file,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::NoFilter,
    )
    .write_image(&pixels, width, height, image::ExtendedColorType::L8)
    .expect("encode");
    path
}

fn arguments(dir: &Path) -> Vec<Case> {
    let g = "arguments";
    let mut cases = Vec::new();
    let detect = |extra: &[&str]| [os(&["detect", "weights/dog.jpg", "--device", "cpu"]), os(extra)].concat();
    for (flag, value) in [
        ("--conf", "nan"),
        ("--conf", "2"),
        ("--conf", "-0.1"),
        ("--iou", "nan"),
        ("--iou", "1.5"),
        ("--size", "0"),
        ("--size", "33"),
        ("--size", "65536"),
        ("--size", "-32"),
        ("--size", "99999999999999999999999"),
        ("--batch", "0"),
        ("--max-det", "-1"),
        ("--device", "quantum"),
        ("--resize", "squish"),
        ("--classes", "unicorn"),
        ("--classes", "80"),
    ] {
        cases.push(Case {
            group: g,
            name: format!("{flag} {value}"),
            file: None,
            args: detect(&[flag, value]),
            expect: fails(&[flag.trim_start_matches('-')]),
        });
    }
    // A legal size and batch whose first activation is 16 GiB: refused before the input exists.
    let args = os(&[
        "bench", "--device", "cpu", "--arch", "yolov3", "--size", "4096", "--batch", "8", "-n", "1", "--warmup", "0",
    ]);
    cases.push(Case {
        group: g,
        name: "bench yolov3 at 4096 batch 8 (16 GiB activation)".into(),
        file: None,
        args,
        expect: fails(&["MiB", "--batch"]),
    });
    // Eight photos at 4096 in one batch: an 8 GiB first activation, refused before any photo
    // is decoded or the 1.6 GB batch buffer reserved.
    let eight = dir.join("eight_photos");
    std::fs::create_dir_all(&eight).expect("dir");
    for i in 0..8 {
        std::fs::copy(root().join("weights/dog.jpg"), eight.join(format!("dog{i}.jpg"))).expect("copy");
    }
    let args = [os(&["detect", "--device", "cpu", "--size", "4096", "--batch", "8"]), vec![p(&eight)]].concat();
    cases.push(Case {
        group: g,
        name: "detect 8 photos at 4096 in one batch".into(),
        file: None,
        args,
        expect: fails(&["MiB", "--batch"]),
    });
    cases.push(Case {
        group: g,
        name: "--batch 100000000 (one image: fine)".into(),
        file: None,
        args: detect(&["--batch", "100000000"]),
        expect: succeeds(&["dog"]),
    });
    cases.push(Case {
        group: g,
        name: "--rect with --resize".into(),
        file: None,
        args: detect(&["--rect", "--resize", "stretch"]),
        expect: fails(&["rect"]),
    });
    let few = write(dir, "few.names", b"person\nbicycle\n");
    let none = write(dir, "none.names", b"");
    for (name, file) in [("too few names", few), ("zero names", none)] {
        let mut args = detect(&["--names"]);
        args.push(p(&file));
        cases.push(Case { group: g, name: format!("--names {name}"), file: Some(file), args, expect: fails(&["80"]) });
    }
    let dp = fixture("checkpoints/dp.pt");
    for (name, rule, words) in [
        ("empty --remap", "", vec!["remap"]),
        ("--remap without =", "conv", vec!["REGEX=REPLACEMENT"]),
        ("--remap with a bad regex", "(=x", vec!["remap"]),
        ("--remap mapping every key to one name", ".*=same", vec!["same"]),
    ] {
        let mut case = import(g, name, &dp, &["--remap", rule], fails(words.leak()));
        case.file = None; // a flag's defect: the message names the rule
        cases.push(case);
    }
    let rules = write(dir, "rules.remap", b"# all to one\n^.*$=x\n");
    cases.push(import(
        g,
        "--remap-file mapping every key to one name",
        &dp,
        &["--remap-file", rules.to_str().expect("utf-8")],
        fails(&["x"]),
    ));
    // Paths: very long, and not UTF-8 (std::env::args would panic on those).
    let long = "d".repeat(250);
    let deep: PathBuf = std::iter::repeat_n(long.as_str(), 20).collect::<PathBuf>().join("x.jpg");
    let mut args = os(&["detect", "--device", "cpu"]);
    args.push(p(&deep));
    cases.push(Case { group: g, name: "a 5000-character path".into(), file: None, args, expect: fails(&["ddddd"]) });
    use std::os::unix::ffi::OsStrExt as _;
    let odd = dir.join(std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.jpg"));
    std::fs::copy(root().join("weights/dog.jpg"), &odd).expect("copy");
    let mut args = os(&["detect", "--device", "cpu"]);
    args.push(p(&odd));
    cases.push(Case {
        group: g,
        name: "a non-UTF-8 path (works)".into(),
        file: None,
        args,
        expect: succeeds(&["dog"]),
    });
    let missing = dir.join(std::ffi::OsStr::from_bytes(b"missing-\xff.jpg"));
    let mut args = os(&["detect", "--device", "cpu"]);
    args.push(p(&missing));
    cases.push(Case {
        group: g,
        name: "a missing non-UTF-8 path".into(),
        file: None,
        args,
        expect: fails(&["missing-"]),
    });
    cases
}

#[test]
fn the_hostile_corpus_is_handled() {
    let dir = scratch("corpus");
    let mut cases = Vec::new();
    for (name, build) in [
        ("containers", containers as fn(&Path) -> Vec<Case>),
        ("pickles", pickles),
        ("tensors", tensor_views),
        ("semantics", semantics),
        ("formats", other_formats),
        ("cfg", cfgs),
        ("images", images),
        ("arguments", arguments),
    ] {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).expect("dir");
        cases.extend(build(&sub));
    }
    run_all(&cases);
    assert!(!dir.join("pickles/PWNED").exists(), "a pickle's command ran");
    // Nothing outside the corpus dirs was written: no stray outputs of the failed imports.
    let strays: Vec<_> = walk(&dir).into_iter().filter(|p| p.to_string_lossy().contains(".out.bpk")).collect();
    let expected_ok = cases.iter().filter(|c| matches!(c.expect, Expect::Succeeds(_))).count();
    assert!(strays.len() <= expected_ok, "failed imports left outputs: {strays:?}");
    assert!(walk(&dir).iter().all(|p| !p.to_string_lossy().ends_with(".tmp")), "temporary files left behind");
    assert!(!Path::new("/tmp/evil").exists(), "an entry name escaped the archive");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
