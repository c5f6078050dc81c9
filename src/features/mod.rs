//! Image features: what an NRF reads from an image.
//!
//! The paper feeds two token maps of a frozen CLIP ViT (layers 3 and 6, class token dropped) and
//! the projected image embedding. Any extractor that produces the same shapes works.

use thiserror::Error;

/// Features of one image: two token maps of `patches` tokens × `token_dim` each, and a global
/// vector of `global_dim` values.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFeatures {
    /// Both token maps, map-major: `[2, patches, token_dim]` flattened.
    pub tokens: Vec<f32>,
    /// Tokens per map (P² for a P×P patch grid).
    pub patches: usize,
    /// Values per token.
    pub token_dim: usize,
    /// Global embedding, `[global_dim]`.
    pub global: Vec<f32>,
}

/// Features whose sizes do not fit together or do not fit a model.
#[derive(Debug, Error, PartialEq)]
pub enum FeatureShapeError {
    /// The token buffer length is not 2 × patches × token_dim.
    #[error("token maps hold {len} values, expected 2 × {patches} × {token_dim}")]
    TokenLength {
        /// Values given.
        len: usize,
        /// Tokens per map.
        patches: usize,
        /// Values per token.
        token_dim: usize,
    },
    /// A value is NaN or infinite.
    #[error("image features contain NaN or infinite values")]
    NotFinite,
}

impl ImageFeatures {
    /// Features from a `[2, patches, token_dim]` token buffer and a global vector.
    pub fn new(
        tokens: Vec<f32>,
        patches: usize,
        token_dim: usize,
        global: Vec<f32>,
    ) -> Result<Self, FeatureShapeError> {
        if tokens.len() != 2 * patches * token_dim {
            return Err(FeatureShapeError::TokenLength {
                len: tokens.len(),
                patches,
                token_dim,
            });
        }
        if !tokens.iter().chain(&global).all(|v| v.is_finite()) {
            return Err(FeatureShapeError::NotFinite);
        }
        Ok(Self {
            tokens,
            patches,
            token_dim,
            global,
        })
    }

    /// Length of the global vector.
    pub fn global_dim(&self) -> usize {
        self.global.len()
    }

    /// One token map (`which` = 0 or 1), `[patches, token_dim]` flattened.
    pub fn token_map(&self, which: usize) -> &[f32] {
        let len = self.patches * self.token_dim;
        &self.tokens[which * len..(which + 1) * len]
    }
}
