//! Standard `.npy` (format 1.0): little-endian float32, C order.

/// Serialises a float32 array of `shape` as `.npy` bytes.
pub fn encode_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Parses a float32 C-order `.npy` written by numpy (format 1.0 or 2.0): shape and values.
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not an .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    if !header.contains("'descr': '<f4'") || header.contains("'fortran_order': True") {
        return Err(format!("only little-endian float32 C-order arrays are supported: {header}"));
    }
    let shape_text =
        header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).ok_or("no shape in .npy header")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|e| format!("bad shape {shape_text}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &bytes[start + header_len..];
    let count: usize = shape.iter().product();
    if data.len() != count * 4 {
        return Err(format!("{} data bytes for shape {shape:?}", data.len()));
    }
    Ok((shape, data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let bytes = super::encode_f32(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!((bytes.len() - 24) % 64, 0);
        let (shape, values) = super::decode_f32(&bytes).expect("parses");
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(values[5], 6.0);
    }
}
