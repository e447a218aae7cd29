//! Just enough of a pickle writer to build the hostile corpus: torch checkpoints with tensors of
//! any shape, stride, offset and storage type, and every opcode route to code.

/// One tensor of a hand-built checkpoint.
#[derive(Debug, Clone)]
pub struct TensorSpec {
    pub key: String,
    /// `FloatStorage`, `DoubleStorage`, `HalfStorage`, `LongStorage`, ... (torch's class names).
    pub storage: String,
    /// Elements in the storage (what the pickle claims).
    pub numel: i64,
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
    /// The storage file's bytes (may disagree with `numel` on purpose).
    pub bytes: Vec<u8>,
}

impl TensorSpec {
    /// A contiguous float32 tensor holding `values`.
    pub fn f32(key: &str, size: &[i64], values: &[f32]) -> Self {
        TensorSpec {
            key: key.into(),
            storage: "FloatStorage".into(),
            numel: values.len() as i64,
            offset: 0,
            size: size.to_vec(),
            stride: contiguous(size),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

pub fn contiguous(size: &[i64]) -> Vec<i64> {
    let mut stride = vec![1i64; size.len()];
    for i in (0..size.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1].saturating_mul(size[i + 1].max(1));
    }
    stride
}

/// A pickle under construction (protocol 2 header).
#[derive(Debug, Clone)]
pub struct Pickle(pub Vec<u8>);

impl Pickle {
    pub fn new() -> Self {
        Pickle(vec![0x80, 2])
    }

    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.raw(format!("c{module}\n{name}\n").as_bytes())
    }

    pub fn str(&mut self, s: &str) -> &mut Self {
        self.raw(b"X").raw(&(s.len() as u32).to_le_bytes()).raw(s.as_bytes())
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        if let Ok(small) = i32::try_from(v) {
            self.raw(b"J").raw(&small.to_le_bytes())
        } else {
            // LONG1: little-endian two's complement, 8 bytes.
            self.raw(&[0x8a, 8]).raw(&v.to_le_bytes())
        }
    }

    pub fn ints(&mut self, values: &[i64]) -> &mut Self {
        self.raw(b"(");
        for v in values {
            self.int(*v);
        }
        self.raw(b"t")
    }

    /// `torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, {})`.
    pub fn tensor(&mut self, t: &TensorSpec, storage_key: &str) -> &mut Self {
        self.global("torch._utils", "_rebuild_tensor_v2").raw(b"(");
        self.raw(b"(").str("storage").global("torch", &t.storage).str(storage_key).str("cpu").int(t.numel).raw(b"t");
        self.raw(b"Q"); // BINPERSID
        self.int(t.offset).ints(&t.size).ints(&t.stride).raw(b"\x89"); // NEWFALSE
        self.global("collections", "OrderedDict").raw(b")R");
        self.raw(b"tR")
    }

    /// `os.system(command)` called, its result popped: what `torch.load(weights_only=False)` runs.
    pub fn call_system(&mut self, module: &str, name: &str, command: &str) -> &mut Self {
        self.global(module, name).raw(b"(").str(command).raw(b"tR0")
    }
}

/// The pickle of an `OrderedDict` state dict, with each tensor's storage named by its index.
/// `extra` is spliced in after the mark, before the entries (hidden payloads, odd keys).
pub fn state_dict(tensors: &[TensorSpec], extra: &[u8]) -> Pickle {
    let mut p = Pickle::new();
    p.global("collections", "OrderedDict").raw(b")R(").raw(extra);
    for (i, t) in tensors.iter().enumerate() {
        p.str(&t.key).tensor(t, &i.to_string());
    }
    p.raw(b"u.");
    p
}

/// A torch zip checkpoint (`archive/data.pkl`, `archive/data/<i>`), entries stored.
pub fn torch_zip(pickle: &[u8], tensors: &[TensorSpec]) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<u8>)> = vec![("archive/data.pkl".into(), pickle.to_vec())];
    entries.push(("archive/byteorder".into(), b"little".to_vec()));
    for (i, t) in tensors.iter().enumerate() {
        entries.push((format!("archive/data/{i}"), t.bytes.clone()));
    }
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    zip_of(&entries)
}

pub fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write as _;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in entries {
        writer.start_file(name.as_str(), options).expect("zip entry");
        writer.write_all(bytes).expect("zip write");
    }
    writer.finish().expect("zip finish").into_inner()
}
