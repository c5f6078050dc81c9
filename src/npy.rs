//! Reading and writing float32 `.npy` arrays (the format Python users keep features and
//! coordinates in), with errors that name the file and the shape expected.

use std::path::Path;

use npyz::WriterBuilder;

use crate::atomic::{AtomicWriteError, write_atomically};
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

/// Reads a float32 or float64 `.npy` file (float64 is converted) in C order.
pub fn read_f32(path: impl AsRef<Path>) -> Result<NpyArray, NpyError> {
    let path = path.as_ref();
    let invalid = |message: String| -> NpyError {
        FileError::Invalid {
            path: path.to_path_buf(),
            message,
        }
        .into()
    };
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| invalid(format!("not a valid .npy file ({e})")))?;
    if npy.order() != npyz::Order::C {
        return Err(invalid(
            "Fortran-ordered arrays are not supported: save with np.ascontiguousarray".into(),
        ));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
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
    if data.len() != shape.iter().product::<usize>() {
        return Err(invalid(format!(
            "header shape {shape:?} does not match the {} values stored",
            data.len()
        )));
    }
    Ok(NpyArray { shape, data })
}

/// Writes a little-endian float32 `.npy` file atomically.
pub fn write_f32(path: impl AsRef<Path>, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
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
        let mut writer = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape_u64)
            .writer(out)
            .begin_nd()?;
        writer.extend(data.iter().copied())?;
        writer.finish()
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
