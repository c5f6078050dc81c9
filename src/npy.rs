//! Reading and writing float32 `.npy` arrays (the format Python users keep features and
//! coordinates in), with errors that name the file and the shape expected.

use std::path::Path;

use npyz::WriterBuilder;

use crate::atomic_file::{AtomicWriteError, write_atomically};
use crate::error::FileError;

/// Errors from `.npy` files.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file cannot be read, or is not an `.npy` array of a supported type.
    #[error(transparent)]
    File(#[from] FileError),
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] AtomicWriteError),
}

/// A float32 array with its shape (C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<f32>,
}

impl NpyArray {
    /// Checks the number of dimensions and any fixed sizes (`None` = any size), naming `what`
    /// the array should be in the error.
    pub fn expect_shape(
        &self,
        path: &Path,
        what: &str,
        expected: &[Option<usize>],
    ) -> Result<(), NpyError> {
        let fits = self.shape.len() == expected.len()
            && self
                .shape
                .iter()
                .zip(expected)
                .all(|(got, want)| want.is_none_or(|w| w == *got));
        if fits {
            return Ok(());
        }
        let spelled: Vec<String> = expected
            .iter()
            .map(|d| d.map_or("any".to_string(), |d| d.to_string()))
            .collect();
        Err(FileError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "{what}: expected shape ({}), found {:?}",
                spelled.join(", "),
                self.shape
            ),
        }
        .into())
    }
}

/// The number of values a shape holds, `None` when it overflows.
fn shape_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Fails, before anything is allocated, when the header's shape holds more values than the file
/// has bytes (every value takes at least one).
fn check_shape_fits(path: &Path, shape: &[usize], file_bytes: usize) -> Result<(), NpyError> {
    match shape_count(shape) {
        Some(count) if count <= file_bytes => Ok(()),
        _ => Err(FileError::invalid(
            path,
            format!("header shape {shape:?} holds more values than the file's {file_bytes} bytes"),
        )
        .into()),
    }
}

/// The deepest bracket nesting a `.npy` header may have.
const MAX_HEADER_NESTING: usize = 4;

/// Where a `.npy` header's text lies, `(start, length)` as its preamble declares them; `None`
/// without the magic or with an unknown version (`npyz` then reports what is wrong).
fn header_span(bytes: &[u8]) -> Option<(usize, usize)> {
    if bytes.get(..6)? != b"\x93NUMPY" {
        return None;
    }
    match bytes.get(6)? {
        1 => Some((
            10,
            u16::from_le_bytes([*bytes.get(8)?, *bytes.get(9)?]) as usize,
        )),
        2 | 3 => Some((
            12,
            u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize,
        )),
        _ => None,
    }
}

/// The shape a `.npy` header's text declares, read before `npyz` sees the file (it multiplies
/// the dimensions unchecked); `None` when it cannot be read this way.
fn declared_shape(header: &[u8]) -> Option<Vec<usize>> {
    let text = std::str::from_utf8(header).ok()?;
    let rest = &text[text.find("'shape'")?..];
    let open = rest.find('(')? + 1;
    let tuple = &rest[open..open + rest[open..].find(')')?];
    tuple
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<usize>().ok())
        .collect()
}

/// The deepest bracket nesting in a header's text.
fn bracket_depth(header: &[u8]) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for &byte in header {
        match byte {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Refuses, before `npyz` reads the file, a header that runs past the file, nests brackets
/// deeper than a NumPy header does, or whose shape holds more values than the file has bytes.
fn check_declared_shape(path: &Path, bytes: &[u8]) -> Result<(), NpyError> {
    let Some((start, len)) = header_span(bytes) else {
        return Ok(());
    };
    // `npyz` allocates the header's declared length before reading it.
    let Some(header) = bytes.get(start..start.saturating_add(len)) else {
        return Err(FileError::invalid(
            path,
            format!(
                "header length {len} runs past the end of the file's {} bytes (truncated or not a .npy file)",
                bytes.len()
            ),
        )
        .into());
    };
    // `npyz` parses the header with a backtracking Python-literal grammar that takes minutes on a
    // few hundred nested brackets (found by fuzzing); a real header nests three deep at most
    // (the dict, a structured dtype's list, its tuples).
    let deepest = bracket_depth(header);
    if deepest > MAX_HEADER_NESTING {
        return Err(FileError::invalid(
            path,
            format!(
                "header nests brackets {deepest} deep; expected a NumPy header (a dict of descr, fortran_order and shape)"
            ),
        )
        .into());
    }
    match declared_shape(header) {
        Some(shape) => check_shape_fits(path, &shape, bytes.len()),
        None => Ok(()),
    }
}

/// Fails unless the header's shape holds exactly `len` values.
fn check_length(path: &Path, shape: &[usize], len: usize) -> Result<(), NpyError> {
    if shape_count(shape) == Some(len) {
        return Ok(());
    }
    Err(FileError::invalid(
        path,
        format!("header shape {shape:?} does not match the {len} values stored"),
    )
    .into())
}

/// Reads a float32 or float64 `.npy` file (float64 is converted), returned in C order whichever
/// order it was saved in.
pub fn read_f32(path: impl AsRef<Path>) -> Result<NpyArray, NpyError> {
    let path = path.as_ref();
    let invalid = |message: String| -> NpyError { FileError::invalid(path, message).into() };
    let bytes = crate::error::read_bytes(path)?;
    check_declared_shape(path, &bytes)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| invalid(format!("not a valid .npy file ({e})")))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    check_shape_fits(path, &shape, bytes.len())?;
    let dtype = npy.dtype();
    let data: Vec<f32> = match dtype.descr().as_str() {
        "'<f4'" | "'>f4'" => npy.into_vec::<f32>(),
        "'<f8'" | "'>f8'" => npy
            .into_vec::<f64>()
            .map(|v| v.into_iter().map(|x| x as f32).collect()),
        other => {
            return Err(invalid(format!(
                "dtype {other} is not supported: expected float32 or float64"
            )));
        }
    }
    .map_err(|e| invalid(format!("truncated or unreadable data ({e})")))?;
    check_length(path, &shape, data.len())?;
    let data = if fortran {
        fortran_to_c(&data, &shape)
    } else {
        data
    };
    Ok(NpyArray { shape, data })
}

/// Values stored in Fortran order (first index fastest, as `np.asfortranarray` saves them) in C
/// order (last index fastest), for `data.len() == shape.iter().product()`.
fn fortran_to_c<T: Copy>(data: &[T], shape: &[usize]) -> Vec<T> {
    if shape.len() < 2 {
        return data.to_vec();
    }
    // C strides of the output; walk the Fortran input in order, its index counting up first
    // index fastest.
    let mut c_strides = vec![1usize; shape.len()];
    for axis in (0..shape.len() - 1).rev() {
        c_strides[axis] = c_strides[axis + 1] * shape[axis + 1];
    }
    let mut out = data.to_vec();
    let mut index = vec![0usize; shape.len()];
    for &value in data {
        let at: usize = index.iter().zip(&c_strides).map(|(i, s)| i * s).sum();
        out[at] = value;
        for (i, &d) in index.iter_mut().zip(shape) {
            *i += 1;
            if *i < d {
                break;
            }
            *i = 0;
        }
    }
    out
}

/// Reads an integer `.npy` file (signed or unsigned, 1 to 8 bytes, either byte order) such as
/// NSD's `image_order.npy` (int32) or `validation_idx.npy` (uint16): `(shape, values)`.
pub fn read_integers(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<i64>), NpyError> {
    let path = path.as_ref();
    let invalid = |message: String| -> NpyError { FileError::invalid(path, message).into() };
    let bytes = crate::error::read_bytes(path)?;
    check_declared_shape(path, &bytes)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| invalid(format!("not a valid .npy file ({e})")))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    check_shape_fits(path, &shape, bytes.len())?;
    let descr = npy.dtype().descr();
    let widen = |v: Result<Vec<i64>, std::io::Error>| v;
    let data: Vec<i64> = match descr
        .trim_matches('\'')
        .trim_start_matches(['<', '>', '|', '='])
    {
        "i1" => widen(
            npy.into_vec::<i8>()
                .map(|v| v.into_iter().map(i64::from).collect()),
        ),
        "u1" => widen(
            npy.into_vec::<u8>()
                .map(|v| v.into_iter().map(i64::from).collect()),
        ),
        "i2" => widen(
            npy.into_vec::<i16>()
                .map(|v| v.into_iter().map(i64::from).collect()),
        ),
        "u2" => widen(
            npy.into_vec::<u16>()
                .map(|v| v.into_iter().map(i64::from).collect()),
        ),
        "i4" => widen(
            npy.into_vec::<i32>()
                .map(|v| v.into_iter().map(i64::from).collect()),
        ),
        "u4" => widen(
            npy.into_vec::<u32>()
                .map(|v| v.into_iter().map(i64::from).collect()),
        ),
        "i8" => npy.into_vec::<i64>(),
        "u8" => npy.into_vec::<u64>().map(|v| {
            v.into_iter()
                .map(|x| x.min(i64::MAX as u64) as i64)
                .collect()
        }),
        _ => {
            return Err(invalid(format!(
                "dtype {descr} is not supported: expected an integer array"
            )));
        }
    }
    .map_err(|e| invalid(format!("truncated or unreadable data ({e})")))?;
    check_length(path, &shape, data.len())?;
    let data = if fortran {
        fortran_to_c(&data, &shape)
    } else {
        data
    };
    Ok((shape, data))
}

/// Writes a little-endian `.npy` file of any plain numeric type atomically.
pub fn write_array<T: npyz::AutoSerialize + Copy>(
    path: impl AsRef<Path>,
    shape: &[usize],
    data: &[T],
) -> Result<(), NpyError> {
    let path = path.as_ref();
    if data.len() != shape.iter().product::<usize>() {
        return Err(FileError::Invalid {
            path: path.to_path_buf(),
            message: format!("cannot write {} values as shape {shape:?}", data.len()),
        }
        .into());
    }
    let shape_u64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    write_atomically(path, |out| {
        let mut writer = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(&shape_u64)
            .writer(out)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })?;
    Ok(())
}

/// Writes a little-endian float32 `.npy` file atomically.
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    write_array(path, shape, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `.npy` file with a hand-written header (format 1.0).
    fn npy_bytes(header: &str, payload: &[u8]) -> Vec<u8> {
        let mut dict = header.to_string();
        while !(10 + dict.len() + 1).is_multiple_of(64) {
            dict.push(' ');
        }
        dict.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend((dict.len() as u16).to_le_bytes());
        bytes.extend(dict.as_bytes());
        bytes.extend(payload);
        bytes
    }

    #[test]
    fn fortran_ordered_arrays_read_in_c_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        // np.asfortranarray([[1, 2, 3], [4, 5, 6]]) stores 1 4 2 5 3 6.
        let stored: Vec<u8> = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let path = dir.path().join("f.npy");
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        std::fs::write(&path, npy_bytes(header, &stored)).expect("write");
        let array = read_f32(&path).expect("a Fortran-ordered array");
        assert_eq!(array.shape, [2, 3]);
        assert_eq!(array.data, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let ints: Vec<u8> = [1i32, 4, 2, 5, 3, 6]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let header = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }";
        std::fs::write(&path, npy_bytes(header, &ints)).expect("write");
        assert_eq!(read_integers(&path).expect("ints").1, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn absurd_shapes_are_refused_before_allocating() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("huge.npy");
        for shape in ["(1099511627776, 1099511627776)", "(4000000000,)"] {
            let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
            std::fs::write(&path, npy_bytes(&header, &[0u8; 16])).expect("write");
            let message = read_f32(&path).expect_err("refused").to_string();
            assert!(message.contains("huge.npy"), "{message}");
        }
    }

    #[test]
    fn a_deeply_nested_header_is_refused_at_once() {
        // npyz's grammar backtracks for minutes on a few hundred nested brackets.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested.npy");
        let header = format!("{{{}'descr': '<f4'}}", "[".repeat(300));
        std::fs::write(&path, npy_bytes(&header, &[])).expect("write");
        let message = read_f32(&path).expect_err("refused").to_string();
        assert!(message.contains("nests brackets 301 deep"), "{message}");
        // A structured dtype's list of tuples (depth 3) is not refused for its nesting.
        let structured =
            "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }";
        std::fs::write(&path, npy_bytes(structured, &[0u8; 8])).expect("write");
        let message = read_f32(&path).expect_err("not float32").to_string();
        assert!(!message.contains("nests"), "{message}");
    }

    #[test]
    fn round_trip_and_shape_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.npy");
        let data: Vec<f32> = (0..12).map(|v| v as f32 * 0.5).collect();
        write_f32(&path, &[4, 3], &data).expect("write");
        let back = read_f32(&path).expect("read");
        assert_eq!(back.shape, vec![4, 3]);
        assert_eq!(back.data, data);
        back.expect_shape(&path, "points", &[None, Some(3)])
            .expect("fits");
        let err = back
            .expect_shape(&path, "B", &[Some(3), None])
            .expect_err("wrong");
        assert!(
            err.to_string()
                .contains("expected shape (3, any), found [4, 3]"),
            "{err}"
        );
    }

    #[test]
    fn integers_round_trip_in_every_width() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ids.npy");
        write_array(&path, &[3], &[172i32, 185, 263]).expect("write");
        assert_eq!(
            read_integers(&path).expect("read"),
            (vec![3], vec![172, 185, 263])
        );
        write_array(&path, &[2], &[7u16, 65535]).expect("write");
        assert_eq!(read_integers(&path).expect("read").1, vec![7, 65535]);
        write_f32(&path, &[1], &[1.5]).expect("write");
        let err = read_integers(&path).expect_err("floats are not ids");
        assert!(err.to_string().contains("integer"), "{err}");
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("junk.npy");
        std::fs::write(&path, b"not numpy").expect("write");
        let err = read_f32(&path).expect_err("junk").to_string();
        assert!(
            err.contains("junk.npy") && err.contains("not a valid .npy"),
            "{err}"
        );
        let missing = read_f32(dir.path().join("missing.npy"))
            .expect_err("missing")
            .to_string();
        assert!(missing.contains("missing.npy"), "{missing}");
    }
}
