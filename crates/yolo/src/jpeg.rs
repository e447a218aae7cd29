//! Is a JPEG whole? The `image` crate decodes a file cut inside its entropy-coded scan without
//! a word (the missing rows come out grey), so detections on it would be silently wrong. This
//! walks the marker structure from SOI to the first EOI and says where it stops.
//!
//! Outside the scans every marker segment carries its length; inside a scan a 0xFF byte is
//! followed by 0x00 (a stuffed data byte), RST0-7 or fill bytes, and anything else is the next
//! marker. Data appended after EOI (motion photos, trailers) is ignored.

/// Why a JPEG is incomplete.
#[allow(missing_docs)] // the messages say it
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JpegDefect {
    #[error("the file ends inside a marker segment at byte {offset}")]
    CutInSegment { offset: usize },
    #[error(
        "the file ends inside the image data (a scan started at byte {scan_start} and never finished): it is truncated"
    )]
    CutInScan { scan_start: usize },
    #[error("no SOI marker at the start")]
    NoStart,
    #[error("invalid marker structure at byte {offset}")]
    BadMarker { offset: usize },
}

/// Checks that `bytes` hold a JPEG whose marker structure reaches EOI.
pub fn check_complete(bytes: &[u8]) -> Result<(), JpegDefect> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(JpegDefect::NoStart);
    }
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if at >= bytes.len() {
            return Err(JpegDefect::CutInSegment { offset: at });
        }
        if bytes[at] != 0xFF {
            return Err(JpegDefect::BadMarker { offset: at });
        }
        while at < bytes.len() && bytes[at] == 0xFF {
            at += 1;
        }
        let Some(&marker) = bytes.get(at) else {
            return Err(JpegDefect::CutInSegment { offset: at });
        };
        at += 1;
        match marker {
            0xD9 => return Ok(()),          // EOI
            0x01 | 0xD0..=0xD7 => continue, // TEM, RSTn: no length
            0x00 => return Err(JpegDefect::BadMarker { offset: at - 1 }),
            _ => {}
        }
        let Some(len) = bytes.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
            return Err(JpegDefect::CutInSegment { offset: at });
        };
        if len < 2 || at + len > bytes.len() {
            return Err(JpegDefect::CutInSegment { offset: at });
        }
        at += len;
        if marker == 0xDA {
            // SOS: entropy-coded data up to the next marker that is not a stuffed byte or RSTn.
            let scan_start = at;
            loop {
                let Some(ff) = bytes[at..].iter().position(|&b| b == 0xFF) else {
                    return Err(JpegDefect::CutInScan { scan_start });
                };
                at += ff;
                let mut next = at + 1;
                while next < bytes.len() && bytes[next] == 0xFF {
                    next += 1;
                }
                match bytes.get(next) {
                    None => return Err(JpegDefect::CutInScan { scan_start }),
                    Some(0x00 | 0xD0..=0xD7) => at = next + 1,
                    Some(_) => {
                        at = next - 1; // the last 0xFF before the marker byte
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP0 of 4 bytes, SOS with 2 length bytes, scan data with a stuffed FF and a
    /// restart marker, EOI, then trailing junk.
    fn tiny() -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB, 0xFF, 0xDA, 0x00, 0x02];
        v.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9, 0x00, 0xFF]);
        v
    }

    #[test]
    fn whole_files_pass_and_cut_ones_say_where() {
        let whole = tiny();
        assert_eq!(check_complete(&whole), Ok(()));
        assert_eq!(check_complete(&whole[..whole.len() - 3]), Err(JpegDefect::CutInScan { scan_start: 12 }));
        assert_eq!(check_complete(&whole[..16]), Err(JpegDefect::CutInScan { scan_start: 12 }));
        assert_eq!(check_complete(&whole[..7]), Err(JpegDefect::CutInSegment { offset: 4 }));
        assert_eq!(check_complete(b"PNG"), Err(JpegDefect::NoStart));
    }

    #[test]
    fn a_real_photo_is_whole_and_its_cut_is_noticed() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../weights/dog.jpg")).expect("photo");
        assert_eq!(check_complete(&bytes), Ok(()));
        assert!(matches!(check_complete(&bytes[..bytes.len() / 2]), Err(JpegDefect::CutInScan { .. })));
    }
}
