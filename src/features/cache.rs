//! A feature cache on disk, so that training never recomputes a frozen extractor.
//!
//! An entry is keyed by the extractor's id and a SHA-256 of the decoded image (width, height and
//! RGB bytes), so the same picture stored twice, or re-read from another file format without loss,
//! is computed once. Entries live at `ROOT/<extractor id>/<2 hex>/<64 hex>.safetensors` and hold
//! `tokens` `[2, P², D]` and `global` `[G]` as float32, with a SHA-256 of those values in the
//! metadata; they are written atomically. An entry that cannot be read, whose values no longer
//! match their hash (a damaged disk, a copy cut short) or whose sizes disagree with the extractor
//! is treated as missing and rewritten.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use super::preprocess::Rgb8;
use super::{FeatureError, FeatureExtractor, ImageFeatures};
use crate::atomic_file::{AtomicWriteError, write_atomically};

/// Errors of the cache itself (the extractor's own errors pass through as [`FeatureError`]).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The cache folder cannot be created.
    #[error("cannot create the feature cache folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An entry cannot be written.
    #[error("cannot store cached features: {0}")]
    Write(#[from] AtomicWriteError),
    /// Extraction failed.
    #[error(transparent)]
    Extract(#[from] FeatureError),
}

/// A folder of cached features; cheap to share between threads.
#[derive(Debug)]
pub struct FeatureCache {
    root: PathBuf,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

/// How often the cache answered from disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries read from disk.
    pub hits: usize,
    /// Entries computed (and stored).
    pub misses: usize,
}

/// The SHA-256 (hex) of an extractor id and a decoded image.
pub fn cache_key(extractor_id: &str, image: &Rgb8) -> String {
    let mut hasher = Sha256::new();
    hasher.update((extractor_id.len() as u64).to_le_bytes());
    hasher.update(extractor_id.as_bytes());
    hasher.update(image.width.to_le_bytes());
    hasher.update(image.height.to_le_bytes());
    hasher.update(&image.pixels);
    hex(hasher)
}

/// A finished hash as lowercase hex.
fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file-name-safe version of an extractor id (`clip:name:layers=3,6` → `clip_name_layers=3,6`).
fn folder_name(extractor_id: &str) -> String {
    extractor_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | ',' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The user's feature cache folder: `$XDG_CACHE_HOME/nrf/features`, else
/// `~/.cache/nrf/features`; `None` when neither variable is set.
pub fn default_root() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|base| base.join("nrf").join("features"))
}

impl FeatureCache {
    /// Opens (creating if needed) a cache rooted at `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, CacheError> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root).map_err(|source| CacheError::Folder {
            path: root.clone(),
            source,
        })?;
        Ok(Self {
            root,
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
        })
    }

    /// The cache folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the entry of `image` under `extractor_id` lives.
    pub fn entry_path(&self, extractor_id: &str, image: &Rgb8) -> PathBuf {
        let key = cache_key(extractor_id, image);
        self.root
            .join(folder_name(extractor_id))
            .join(&key[..2])
            .join(format!("{key}.safetensors"))
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// The features of `image`, from disk when cached, otherwise extracted and stored.
    pub fn get_or_extract(
        &self,
        extractor: &dyn FeatureExtractor,
        image: &Rgb8,
    ) -> Result<ImageFeatures, CacheError> {
        let id = extractor.id();
        let path = self.entry_path(&id, image);
        if let Some(features) = read_entry(&path).filter(|f| {
            f.patches == extractor.patches()
                && f.token_dim == extractor.token_dim()
                && f.global_dim() == extractor.global_dim()
        }) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(features);
        }
        let features = extractor.extract(image)?;
        write_entry(&path, &id, &features)?;
        self.misses.fetch_add(1, Ordering::Relaxed);
        Ok(features)
    }
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn write_entry(path: &Path, id: &str, features: &ImageFeatures) -> Result<(), CacheError> {
    use safetensors::tensor::{Dtype, TensorView};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Folder {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let tokens = to_bytes(&features.tokens);
    let global = to_bytes(&features.global);
    let invalid = |e: safetensors::SafeTensorError| {
        CacheError::Extract(FeatureError::Readback(format!(
            "features do not fit a cache entry: {e}"
        )))
    };
    let token_view = TensorView::new(
        Dtype::F32,
        vec![2, features.patches, features.token_dim],
        &tokens,
    )
    .map_err(invalid)?;
    let global_view =
        TensorView::new(Dtype::F32, vec![features.global.len()], &global).map_err(invalid)?;
    let metadata = Some(std::collections::HashMap::from([
        ("extractor".to_string(), id.to_string()),
        (CHECKSUM_KEY.to_string(), checksum(&tokens, &global)),
    ]));
    let bytes = safetensors::serialize([("tokens", token_view), ("global", global_view)], metadata)
        .map_err(invalid)?;
    write_atomically(path, |out| {
        use std::io::Write;
        out.write_all(&bytes)
    })?;
    Ok(())
}

/// The metadata key of an entry's checksum.
const CHECKSUM_KEY: &str = "sha256";

/// SHA-256 (hex) of an entry's token and global bytes.
fn checksum(tokens: &[u8], global: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update((tokens.len() as u64).to_le_bytes());
    hasher.update(tokens);
    hasher.update(global);
    hex(hasher)
}

/// An entry's features, `None` when it is unreadable or its values do not match its checksum.
fn read_entry(path: &Path) -> Option<ImageFeatures> {
    let bytes = std::fs::read(path).ok()?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).ok()?;
    let stored_checksum = metadata.metadata().as_ref()?.get(CHECKSUM_KEY)?.clone();
    let file = safetensors::SafeTensors::deserialize(&bytes).ok()?;
    let tokens = file.tensor("tokens").ok()?;
    let global = file.tensor("global").ok()?;
    if checksum(tokens.data(), global.data()) != stored_checksum {
        return None;
    }
    let floats = |view: &safetensors::tensor::TensorView| -> Option<Vec<f32>> {
        (view.dtype() == safetensors::Dtype::F32).then(|| {
            view.data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
    };
    match *tokens.shape() {
        [2, patches, dim] => {
            ImageFeatures::new(floats(&tokens)?, patches, dim, floats(&global)?).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::builtin::BuiltinExtractor;

    fn image(seed: u8) -> Rgb8 {
        Rgb8 {
            width: 40,
            height: 30,
            pixels: (0..40 * 30 * 3)
                .map(|i| (i as u8).wrapping_mul(seed))
                .collect(),
        }
    }

    #[test]
    fn second_request_is_read_from_disk_and_equal() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::open(dir.path()).unwrap();
        let first = cache.get_or_extract(&BuiltinExtractor, &image(3)).unwrap();
        let again = cache.get_or_extract(&BuiltinExtractor, &image(3)).unwrap();
        assert_eq!(first, again);
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1 });
        cache.get_or_extract(&BuiltinExtractor, &image(5)).unwrap();
        assert_eq!(cache.stats().misses, 2, "other pixels, other entry");
    }

    #[test]
    fn key_depends_on_extractor_pixels_and_size() {
        let a = image(3);
        let mut b = a.clone();
        b.pixels[100] ^= 1;
        let c = Rgb8 {
            width: 30,
            height: 40,
            pixels: a.pixels.clone(),
        };
        let keys = [
            cache_key("x", &a),
            cache_key("y", &a),
            cache_key("x", &b),
            cache_key("x", &c),
        ];
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                assert_ne!(keys[i], keys[j]);
            }
        }
        assert_eq!(keys[0].len(), 64);
    }

    #[test]
    fn corrupt_entry_is_recomputed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::open(dir.path()).unwrap();
        let first = cache.get_or_extract(&BuiltinExtractor, &image(3)).unwrap();
        let path = cache.entry_path(&BuiltinExtractor.id(), &image(3));
        std::fs::write(&path, b"not safetensors").unwrap();
        let again = cache.get_or_extract(&BuiltinExtractor, &image(3)).unwrap();
        assert_eq!(first, again);
        assert_eq!(cache.stats(), CacheStats { hits: 0, misses: 2 });
        assert!(read_entry(&path).is_some(), "the entry was rewritten");
    }

    #[test]
    fn an_entry_whose_values_changed_is_detected_and_recomputed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::open(dir.path()).unwrap();
        let first = cache.get_or_extract(&BuiltinExtractor, &image(3)).unwrap();
        let path = cache.entry_path(&BuiltinExtractor.id(), &image(3));
        // One bit of the last float flipped: still valid safetensors, with a wrong value.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_entry(&path).is_none(), "the damage is seen");
        let again = cache.get_or_extract(&BuiltinExtractor, &image(3)).unwrap();
        assert_eq!(first, again, "recomputed, not trusted");
        assert_eq!(cache.stats(), CacheStats { hits: 0, misses: 2 });
        assert!(read_entry(&path).is_some(), "the entry was rewritten");
    }

    #[test]
    fn unwritable_root_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let message = FeatureCache::open(file.join("cache"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("plain-file"), "{message}");
    }
}
