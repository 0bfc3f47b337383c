//! The NumPy `.npy` format (versions 1.0, 2.0 and 3.0), C order.
//!
//! Layout: the magic `\x93NUMPY`, a major and a minor version byte, the
//! header length (little-endian u16 for 1.0, u32 for 2.0/3.0), an ASCII (or
//! UTF-8 for 3.0) Python dict `{'descr': …, 'fortran_order': …, 'shape': …}`
//! padded with spaces to a multiple of 64 bytes and ending in `\n`, then the
//! raw data. Fortran-order arrays are refused rather than silently transposed.

use std::io::{Read, Write};

use crate::error::{DataError, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Element types read and written by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// `u1`
    U8,
    /// `i4`
    I32,
    /// `i8`
    I64,
    /// `f4`
    F32,
    /// `f8`
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// Whether the type holds integers.
    pub fn is_integer(self) -> bool {
        matches!(self, DType::U8 | DType::I32 | DType::I64)
    }

    /// The name users know (`"f32"`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

/// The elements of an array, in C order.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// Unsigned bytes.
    U8(Vec<u8>),
    /// 32-bit integers.
    I32(Vec<i32>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
}

/// An array read from a `.npy` stream.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape, outermost dimension first (`(n, d)` or `(n, H, W, C)`).
    pub shape: Vec<usize>,
    /// The elements in C order.
    pub data: NpyData,
}

impl NpyArray {
    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.data {
            NpyData::U8(_) => DType::U8,
            NpyData::I32(_) => DType::I32,
            NpyData::I64(_) => DType::I64,
            NpyData::F32(_) => DType::F32,
            NpyData::F64(_) => DType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            NpyData::U8(v) => v.len(),
            NpyData::I32(v) => v.len(),
            NpyData::I64(v) => v.len(),
            NpyData::F32(v) => v.len(),
            NpyData::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as f64 (exact for every supported type except i64
    /// beyond 2^53, which no label or pixel reaches).
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            NpyData::F64(v) => v.clone(),
        }
    }

    /// The elements as class labels: an array of any shape whose values are
    /// all whole numbers ≥ 0, of an integer dtype or floats with whole
    /// values (what `np.loadtxt` and CSV files give). `what` names the array
    /// in errors.
    pub fn to_labels(&self, what: &str) -> Result<Vec<usize>> {
        let bad = |value: i64| DataError::InvalidParameter {
            what: "labels",
            reason: format!("{what}: class labels must be integers >= 0, found {value}"),
        };
        match &self.data {
            NpyData::U8(v) => Ok(v.iter().map(|&x| usize::from(x)).collect()),
            NpyData::I32(v) => v
                .iter()
                .map(|&x| usize::try_from(x).map_err(|_| bad(i64::from(x))))
                .collect(),
            NpyData::I64(v) => v
                .iter()
                .map(|&x| usize::try_from(x).map_err(|_| bad(x)))
                .collect(),
            // What `np.loadtxt` or a CSV reader gives: floats with whole
            // values are labels (up to 2⁵³, past which floats skip integers).
            NpyData::F32(v) => v.iter().map(|&x| whole(what, f64::from(x))).collect(),
            NpyData::F64(v) => v.iter().map(|&x| whole(what, x)).collect(),
        }
    }
}

/// A class label stored as a float: whole, non-negative and at most 2⁵³.
fn whole(what: &str, x: f64) -> Result<usize> {
    if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0 {
        usize::try_from(x as u64).map_err(|_| DataError::InvalidParameter {
            what: "labels",
            reason: format!("{what}: class label {x} does not fit this machine's usize"),
        })
    } else {
        Err(DataError::InvalidParameter {
            what: "labels",
            reason: format!(
                "{what}: class labels must be whole numbers >= 0 (an integer dtype, or floats with whole values), found {x}"
            ),
        })
    }
}

/// Parses a `.npy` stream. `what` names the source in errors. The data must
/// be exactly as long as the header says: truncated and over-long streams
/// are both errors.
pub fn read_npy<R: Read>(reader: R, what: &str) -> Result<NpyArray> {
    read_one(reader, what, true)
}

/// Reads one array from a stream holding several (a container format),
/// leaving the reader just after its data.
///
/// # Errors
/// As [`read_npy`], except that trailing bytes are not an error.
pub fn read_npy_stream<R: Read>(reader: &mut R, what: &str) -> Result<NpyArray> {
    read_one(reader, what, false)
}

/// What a `.npy` header says: enough to read any range of rows later.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
    /// Whether the data are big-endian.
    pub big_endian: bool,
    /// Bytes before the data (preamble, length and header).
    pub data_offset: u64,
    /// Bytes of data the shape implies.
    pub data_len: u64,
}

/// Parses the preamble and header of a `.npy` stream, leaving the reader
/// at the first data byte.
///
/// # Errors
/// As [`read_npy`] for everything before the data.
pub fn read_header<R: Read>(mut reader: R, what: &str) -> Result<NpyHeader> {
    let bad = |reason: String| DataError::format(what, ".npy file", reason);
    let mut preamble = [0u8; 8];
    read_exact_or(&mut reader, &mut preamble, what, || {
        bad("shorter than the 8-byte preamble".into())
    })?;
    if &preamble[..6] != MAGIC {
        return Err(bad("missing the \\x93NUMPY magic string".into()));
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let (header_len, len_bytes) = match major {
        1 => {
            let mut b = [0u8; 2];
            read_exact_or(&mut reader, &mut b, what, || {
                bad("truncated header length".into())
            })?;
            (usize::from(u16::from_le_bytes(b)), 2)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            read_exact_or(&mut reader, &mut b, what, || {
                bad("truncated header length".into())
            })?;
            (u32::from_le_bytes(b) as usize, 4)
        }
        _ => return Err(bad(format!("unsupported format version {major}.{minor}"))),
    };
    if header_len > 1 << 20 {
        return Err(bad(format!("implausible header length {header_len}")));
    }
    let mut header = vec![0u8; header_len];
    read_exact_or(&mut reader, &mut header, what, || {
        bad("truncated header".into())
    })?;
    let header = std::str::from_utf8(&header).map_err(|_| bad("header is not UTF-8".into()))?;
    let parsed = parse_header(header).map_err(bad)?;
    if parsed.fortran_order {
        return Err(bad(
            "Fortran-order arrays are not read; save with np.ascontiguousarray".into(),
        ));
    }
    let (dtype, big_endian) =
        parse_descr(&parsed.descr).ok_or_else(|| DataError::UnsupportedDtype {
            what: what.to_owned(),
            descr: parsed.descr.clone(),
        })?;
    let count = parsed
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("shape overflows".into()))?;
    let bytes = count
        .checked_mul(dtype.size())
        .ok_or_else(|| bad("shape overflows".into()))?;
    Ok(NpyHeader {
        shape: parsed.shape,
        dtype,
        big_endian,
        data_offset: (8 + len_bytes + header_len) as u64,
        data_len: bytes as u64,
    })
}

/// Decodes raw `.npy` data of `dtype` into `f64` values, replacing the
/// contents of `out` (whose allocation is reused).
pub fn decode_f64_into(raw: &[u8], dtype: DType, big_endian: bool, out: &mut Vec<f64>) {
    out.clear();
    macro_rules! into {
        ($t:ty, $n:literal) => {
            out.extend(raw.chunks_exact($n).map(|c| {
                let b: [u8; $n] = c.try_into().expect("chunk length");
                (if big_endian {
                    <$t>::from_be_bytes(b)
                } else {
                    <$t>::from_le_bytes(b)
                }) as f64
            }))
        };
    }
    match dtype {
        DType::U8 => out.extend(raw.iter().map(|&v| f64::from(v))),
        DType::I32 => into!(i32, 4),
        DType::I64 => into!(i64, 8),
        DType::F32 => into!(f32, 4),
        DType::F64 => into!(f64, 8),
    }
}

fn read_one<R: Read>(mut reader: R, what: &str, whole: bool) -> Result<NpyArray> {
    let io = |source: std::io::Error| DataError::Read {
        what: what.to_owned(),
        source,
    };
    let h = read_header(&mut reader, what)?;
    let (dtype, big_endian) = (h.dtype, h.big_endian);
    let bytes = h.data_len as usize;
    let mut raw = Vec::with_capacity(bytes.min(1 << 30));
    let limit = bytes as u64 + u64::from(whole);
    reader.take(limit).read_to_end(&mut raw).map_err(io)?;
    if raw.len() != bytes {
        return Err(DataError::Length {
            what: format!("{what} (data after the header)"),
            expected: bytes as u64,
            got: raw.len() as u64,
        });
    }
    let data = decode(&raw, dtype, big_endian);
    Ok(NpyArray {
        shape: h.shape,
        data,
    })
}

/// `read_exact`, mapping a premature end to the format error `eof()`.
fn read_exact_or<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    what: &str,
    eof: impl FnOnce() -> DataError,
) -> Result<()> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(eof()),
        Err(source) => Err(DataError::Read {
            what: what.to_owned(),
            source,
        }),
    }
}

fn decode(raw: &[u8], dtype: DType, big_endian: bool) -> NpyData {
    macro_rules! words {
        ($t:ty, $n:literal) => {
            raw.chunks_exact($n)
                .map(|c| {
                    let b: [u8; $n] = c.try_into().expect("chunk length");
                    if big_endian {
                        <$t>::from_be_bytes(b)
                    } else {
                        <$t>::from_le_bytes(b)
                    }
                })
                .collect()
        };
    }
    match dtype {
        DType::U8 => NpyData::U8(raw.to_vec()),
        DType::I32 => NpyData::I32(words!(i32, 4)),
        DType::I64 => NpyData::I64(words!(i64, 8)),
        DType::F32 => NpyData::F32(words!(f32, 4)),
        DType::F64 => NpyData::F64(words!(f64, 8)),
    }
}

struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// Parses the header dict. Only the three standard keys are accepted, each
/// exactly once.
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let t = text.trim_end_matches(['\n', ' ', '\0']).trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("header is not a dict: {t:?}"))?;
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (key, after) =
            quoted(rest).ok_or_else(|| format!("expected a quoted key at {rest:?}"))?;
        let after = after
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| format!("expected ':' after '{key}'"))?
            .trim_start();
        let after = match key {
            "descr" => {
                let (v, a) = quoted(after).ok_or("descr must be a quoted string")?;
                if descr.replace(v.to_owned()).is_some() {
                    return Err("duplicate key 'descr'".into());
                }
                a
            }
            "fortran_order" => {
                let (v, a) = if let Some(a) = after.strip_prefix("True") {
                    (true, a)
                } else if let Some(a) = after.strip_prefix("False") {
                    (false, a)
                } else {
                    return Err("fortran_order must be True or False".into());
                };
                if fortran.replace(v).is_some() {
                    return Err("duplicate key 'fortran_order'".into());
                }
                a
            }
            "shape" => {
                let body = after.strip_prefix('(').ok_or("shape must be a tuple")?;
                let close = body.find(')').ok_or("unterminated shape tuple")?;
                let dims = body[..close]
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        s.trim_end_matches('L')
                            .parse::<usize>()
                            .map_err(|_| format!("bad dimension '{s}' in shape"))
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                if shape.replace(dims).is_some() {
                    return Err("duplicate key 'shape'".into());
                }
                &body[close + 1..]
            }
            other => return Err(format!("unexpected key '{other}'")),
        };
        let after = after.trim_start();
        rest = after.strip_prefix(',').unwrap_or(after).trim_start();
        if !after.starts_with(',') && !rest.is_empty() {
            return Err(format!("expected ',' before {rest:?}"));
        }
    }
    Ok(Header {
        descr: descr.ok_or("missing key 'descr'")?,
        fortran_order: fortran.ok_or("missing key 'fortran_order'")?,
        shape: shape.ok_or("missing key 'shape'")?,
    })
}

/// A single- or double-quoted string at the start of `s`, and the rest.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next().filter(|&c| c == '\'' || c == '"')?;
    let body = &s[1..];
    let end = body.find(q)?;
    Some((&body[..end], &body[end + 1..]))
}

/// Maps a type descriptor to a dtype and its byte order.
fn parse_descr(descr: &str) -> Option<(DType, bool)> {
    let (order, code) = match descr.chars().next()? {
        '<' | '|' | '=' => (false, &descr[1..]),
        '>' => (true, &descr[1..]),
        _ => (false, descr),
    };
    let dtype = match code {
        "u1" | "B" => DType::U8,
        "i4" => DType::I32,
        "i8" => DType::I64,
        "f4" => DType::F32,
        "f8" => DType::F64,
        _ => return None,
    };
    // A single byte has no order; '>u1' is the same as '|u1'.
    Some((dtype, order && dtype.size() > 1))
}

/// Element types `write_npy` accepts.
pub trait NpyElement: Copy {
    /// The dtype written.
    const DTYPE: DType;
    /// Appends the little-endian bytes of `self`.
    fn put(self, out: &mut Vec<u8>);
    /// Appends the little-endian bytes of every element of `values`.
    fn put_slice(values: &[Self], out: &mut Vec<u8>) {
        for &v in values {
            v.put(out);
        }
    }
}

macro_rules! element {
    ($t:ty, $d:expr) => {
        impl NpyElement for $t {
            const DTYPE: DType = $d;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn put_slice(values: &[Self], out: &mut Vec<u8>) {
                // Fixed-size chunks of a buffer sized once: a copy loop
                // the compiler vectorises (on little-endian machines,
                // a plain copy), not a capacity check per element.
                const N: usize = core::mem::size_of::<$t>();
                let start = out.len();
                out.resize(start + values.len() * N, 0);
                for (dst, v) in out[start..].chunks_exact_mut(N).zip(values) {
                    dst.copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    };
}
element!(u8, DType::U8);
element!(i32, DType::I32);
element!(i64, DType::I64);
element!(f32, DType::F32);
element!(f64, DType::F64);

/// Writes `data` (C order) with the given shape as a version-1.0 `.npy`
/// stream (version 2.0 if the header would not fit), little-endian.
///
/// # Errors
/// [`DataError::Shape`] when `data` does not hold `shape`'s element count;
/// [`DataError::Read`] for a failed write.
pub fn write_npy<W: Write, T: NpyElement>(writer: W, shape: &[usize], data: &[T]) -> Result<()> {
    let count = element_count(shape)?;
    if count != data.len() {
        return Err(count_error(
            count,
            shape,
            format!("{} elements", data.len()),
        ));
    }
    write_npy_blocks(writer, shape, [data])
}

/// The `.npy` header of an array of `T` with `shape` (version 1.0, or 2.0
/// if it would not fit), padded to 64 bytes as NumPy writes it; the data
/// follow in C order, little-endian.
///
/// # Errors
/// [`DataError::Shape`] when the element count overflows `usize`.
pub fn header_bytes<T: NpyElement>(shape: &[usize]) -> Result<Vec<u8>> {
    element_count(shape)?;
    let descr = match T::DTYPE {
        DType::U8 => "|u1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::F32 => "<f4",
        DType::F64 => "<f8",
    };
    let dims = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    let (version, len_bytes) = if header.len() + 11 < 65536 {
        (1u8, 2)
    } else {
        (2u8, 4)
    };
    let unpadded = MAGIC.len() + 2 + len_bytes + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(1 << 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    Ok(out)
}

/// A stream that holds more or fewer elements than `shape` (`got` says which).
fn count_error(count: usize, shape: &[usize], got: String) -> DataError {
    DataError::Shape {
        what: "array to write".into(),
        expected: format!("{count} elements for shape {shape:?}"),
        got,
    }
}

fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| DataError::Shape {
            what: "array to write".into(),
            expected: "a shape whose element count fits in usize".into(),
            got: format!("{shape:?}"),
        })
}

/// [`write_npy`] from consecutive blocks of the elements in C order (any
/// lengths), each encoded in one pass and written as it arrives: how a
/// stream of computed blocks goes to disk without an iterator step per
/// element.
///
/// # Errors
/// [`DataError::Shape`] when the blocks hold more or fewer elements than
/// `shape` does (the stream is then incomplete); [`DataError::Read`] for a
/// failed write.
pub fn write_npy_blocks<W: Write, T: NpyElement, B: AsRef<[T]>>(
    mut writer: W,
    shape: &[usize],
    blocks: impl IntoIterator<Item = B>,
) -> Result<()> {
    let count = element_count(shape)?;
    let failed = |source| DataError::Read {
        what: "npy output".into(),
        source,
    };
    let mut out = header_bytes::<T>(shape)?;
    let mut written = 0usize;
    // Encoded in pieces of 64 KiB of elements, so the byte buffer stays
    // small whatever the block length.
    let piece = ((1usize << 16) / core::mem::size_of::<T>().max(1)).max(1);
    for block in blocks {
        let block = block.as_ref();
        if block.len() > count - written {
            return Err(count_error(count, shape, "more elements".into()));
        }
        written += block.len();
        for part in block.chunks(piece) {
            T::put_slice(part, &mut out);
            if out.len() >= 1 << 16 {
                writer.write_all(&out).map_err(failed)?;
                out.clear();
            }
        }
    }
    if written != count {
        return Err(count_error(count, shape, format!("{written} elements")));
    }
    writer.write_all(&out).map_err(failed)
}

/// [`write_npy`] from an iterator of the elements in C order, written
/// through a 64 KiB buffer: an array never needs to exist in C order in
/// memory (a column-major matrix streams its rows).
///
/// # Errors
/// [`DataError::Shape`] when the iterator yields more or fewer elements than
/// `shape` holds (the stream is then incomplete); [`DataError::Read`] for a
/// failed write.
pub fn write_npy_iter<W: Write, T: NpyElement>(
    writer: W,
    shape: &[usize],
    values: impl IntoIterator<Item = T>,
) -> Result<()> {
    // Blocks of 8192 elements: the encoding and the count check are the
    // block writer's.
    let mut values = values.into_iter();
    let blocks = std::iter::from_fn(|| {
        let block: Vec<T> = values.by_ref().take(8192).collect();
        (!block.is_empty()).then_some(block)
    });
    write_npy_blocks(writer, shape, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_writes_check_their_count_across_buffer_flushes() {
        // 20 000 f64 = 160 kB: several 64 KiB flushes. The streamed bytes
        // are the slice writer's, and a short or long stream is an error.
        let data: Vec<f64> = (0..20_000).map(|i| f64::from(i) * 0.5).collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write_npy(&mut a, &[100, 200], &data).unwrap();
        write_npy_iter(&mut b, &[100, 200], data.iter().copied()).unwrap();
        assert_eq!(a, b);
        let back = read_npy(b.as_slice(), "streamed").unwrap();
        assert_eq!(back.data, NpyData::F64(data.clone()));
        let short = write_npy_iter(Vec::new(), &[100, 200], data[1..].iter().copied());
        assert!(matches!(short, Err(DataError::Shape { .. })), "{short:?}");
        let long = write_npy_iter(Vec::new(), &[100, 199], data.iter().copied());
        assert!(matches!(long, Err(DataError::Shape { .. })), "{long:?}");
        let overflow = write_npy_iter(Vec::new(), &[usize::MAX, 2], data.iter().copied());
        assert!(matches!(overflow, Err(DataError::Shape { .. })));
    }

    #[test]
    fn block_writes_equal_the_element_stream_and_check_their_count() {
        // Blocks of uneven lengths (an empty one, one longer than a 64 KiB
        // piece) give the header followed by each value's own little-endian
        // bytes (`put`, one value at a time); f32 and f64 (the bulk encoders
        // differ by element size), with values whose bytes all differ.
        fn check<T: NpyElement + core::fmt::Debug>(data: &[T], back: NpyData) {
            let cuts = [0, 1, 1, 7_001, 30_000, data.len()];
            let blocks: Vec<&[T]> = cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect();
            let mut a = header_bytes::<T>(&[150, 200]).unwrap();
            for &v in data {
                v.put(&mut a);
            }
            let mut b = Vec::new();
            write_npy_blocks(&mut b, &[150, 200], blocks.iter().copied()).unwrap();
            assert_eq!(a, b);
            assert_eq!(read_npy(b.as_slice(), "blocks").unwrap().data, back);
            let long = write_npy_blocks(Vec::new(), &[150, 199], blocks.iter().copied());
            assert!(matches!(long, Err(DataError::Shape { .. })), "{long:?}");
            let short = write_npy_blocks(Vec::new(), &[150, 200], &blocks[..3]);
            assert!(matches!(short, Err(DataError::Shape { .. })), "{short:?}");
        }
        let f: Vec<f32> = (0..30_000).map(|i| (i as f32).sqrt() - 77.3).collect();
        check(&f, NpyData::F32(f.clone()));
        let g: Vec<f64> = (0..30_000).map(|i| f64::from(i).ln_1p() * -3.7).collect();
        check(&g, NpyData::F64(g.clone()));
    }

    fn roundtrip<T: NpyElement>(shape: &[usize], data: &[T]) -> NpyArray {
        let mut buf = Vec::new();
        write_npy(&mut buf, shape, data).unwrap();
        assert_eq!(
            buf.iter().position(|&b| b == b'\n').unwrap() % 64,
            63,
            "data starts on a 64-byte boundary"
        );
        read_npy(&buf[..], "test").unwrap()
    }

    #[test]
    fn roundtrips_every_dtype() {
        let a = roundtrip(&[2, 3], &[1.5f64, -2.0, 3.25, f64::MAX, 0.0, -0.0]);
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(
            a.data,
            NpyData::F64(vec![1.5, -2.0, 3.25, f64::MAX, 0.0, -0.0])
        );
        let a = roundtrip(&[4], &[1.5f32, -2.0, 3.25, 7.0]);
        assert_eq!(a.data, NpyData::F32(vec![1.5, -2.0, 3.25, 7.0]));
        let a = roundtrip(&[1, 2, 2, 1], &[0u8, 255, 7, 9]);
        assert_eq!(a.shape, vec![1, 2, 2, 1]);
        assert_eq!(a.to_labels("x").unwrap(), vec![0, 255, 7, 9]);
        let a = roundtrip(&[2], &[-3i32, 4]);
        assert!(matches!(
            a.to_labels("x"),
            Err(DataError::InvalidParameter { what: "labels", .. })
        ));
        let a = roundtrip(&[3], &[0i64, 1, 9]);
        assert_eq!(a.to_labels("x").unwrap(), vec![0, 1, 9]);
        // Floats with whole values are labels; any other float is refused.
        let a = roundtrip(&[3], &[0.0f64, 2.0, 7.0]);
        assert_eq!(a.to_labels("x").unwrap(), vec![0, 2, 7]);
        let a = roundtrip(&[2], &[3.0f32, 1.0]);
        assert_eq!(a.to_labels("x").unwrap(), vec![3, 1]);
        for bad in [0.5f64, -1.0, f64::NAN, f64::INFINITY, 1e300] {
            let a = roundtrip(&[2], &[1.0f64, bad]);
            let err = a.to_labels("y.npy").unwrap_err().to_string();
            assert!(
                err.contains("whole numbers >= 0") && err.contains("y.npy"),
                "{bad}: {err}"
            );
        }
        let a = roundtrip::<f64>(&[0, 5], &[]);
        assert!(a.is_empty());
    }

    /// Bytes written by `numpy.save(np.array([[1., 2.], [3., 4.]], dtype='>f8'))`
    /// layout, built by hand: big-endian data must be decoded.
    #[test]
    fn reads_big_endian_and_version_2() {
        let header = "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }";
        for version in [1u8, 2] {
            let mut buf = MAGIC.to_vec();
            buf.extend_from_slice(&[version, 0]);
            if version == 1 {
                buf.extend_from_slice(&(header.len() as u16).to_le_bytes());
            } else {
                buf.extend_from_slice(&(header.len() as u32).to_le_bytes());
            }
            buf.extend_from_slice(header.as_bytes());
            buf.extend_from_slice(&1.5f64.to_be_bytes());
            buf.extend_from_slice(&(-2.0f64).to_be_bytes());
            let a = read_npy(&buf[..], "be").unwrap();
            assert_eq!(a.data, NpyData::F64(vec![1.5, -2.0]));
        }
    }

    #[test]
    fn refuses_bad_streams() {
        let mut good = Vec::new();
        write_npy(&mut good, &[2, 2], &[1.0f64, 2.0, 3.0, 4.0]).unwrap();
        // Truncated data and trailing bytes.
        assert!(matches!(
            read_npy(&good[..good.len() - 1], "t"),
            Err(DataError::Length {
                expected: 32,
                got: 31,
                ..
            })
        ));
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            read_npy(&long[..], "t"),
            Err(DataError::Length { got: 33, .. })
        ));
        // Not npy at all, truncated header.
        assert!(matches!(
            read_npy(&b"label,p0\n1,2\n"[..], "t"),
            Err(DataError::Format { .. })
        ));
        assert!(matches!(
            read_npy(&good[..20], "t"),
            Err(DataError::Format { .. })
        ));
        assert!(matches!(
            read_npy(&[][..], "t"),
            Err(DataError::Format { .. })
        ));
        // Unsupported dtype, Fortran order, malformed dict.
        // Same-length substitutions inside the (ASCII) header only.
        let swap = |from: &str, to: &str| {
            assert_eq!(from.len(), to.len());
            let mut b = good.clone();
            let at = b
                .windows(from.len())
                .position(|w| w == from.as_bytes())
                .unwrap();
            b[at..at + to.len()].copy_from_slice(to.as_bytes());
            b
        };
        let c16 = swap("<f8", "<c8");
        assert!(matches!(
            read_npy(&c16[..], "t"),
            Err(DataError::UnsupportedDtype { .. })
        ));
        let fortran = swap("False", "True ");
        assert!(matches!(
            read_npy(&fortran[..], "t"),
            Err(DataError::Format { .. })
        ));
        let junk = swap("'shape'", "'shapf'");
        assert!(matches!(
            read_npy(&junk[..], "t"),
            Err(DataError::Format { .. })
        ));
    }

    #[test]
    fn write_checks_the_shape() {
        let mut buf = Vec::new();
        assert!(matches!(
            write_npy(&mut buf, &[2, 2], &[1.0f32]),
            Err(DataError::Shape { .. })
        ));
        assert!(buf.is_empty());
    }
}
