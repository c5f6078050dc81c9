//! Empty-space skipping for the ray marcher: the anatomy grid in blocks, each empty block
//! knowing how far (in blocks) the nearest one with something to see is, so a ray leaves that
//! many blocks behind in one step.

use crate::space::Grid;
use crate::volume::Mask;

/// Edge of an occupancy block, in anatomy voxels.
pub(super) const BLOCK: usize = 4;

/// The largest Chebyshev distance (in blocks) the occupancy texture records.
const MAX_SKIP_BLOCKS: u8 = 32;

/// Each block's Chebyshev distance (in blocks, at most `cap`) to the nearest `filled` block, 0
/// for filled ones: a ray anywhere in a block at distance d meets nothing before it leaves the
/// cube of blocks within d − 1 of it. A breadth-first search over the 26 neighbours.
fn chebyshev_distance(filled: &[bool], dims: [usize; 3], cap: u8) -> Vec<u8> {
    let [nx, ny, nz] = dims;
    let mut distance: Vec<u8> = filled.iter().map(|&f| if f { 0 } else { cap }).collect();
    let mut frontier: Vec<usize> = (0..filled.len()).filter(|&n| filled[n]).collect();
    let mut next = Vec::new();
    for d in 1..cap {
        for &n in &frontier {
            let (i, j, k) = (n % nx, (n / nx) % ny, n / (nx * ny));
            for dk in -1i64..=1 {
                for dj in -1i64..=1 {
                    for di in -1i64..=1 {
                        let (a, b, c) = (i as i64 + di, j as i64 + dj, k as i64 + dk);
                        if a < 0 || b < 0 || c < 0 {
                            continue;
                        }
                        let (a, b, c) = (a as usize, b as usize, c as usize);
                        if a >= nx || b >= ny || c >= nz {
                            continue;
                        }
                        let m = a + nx * (b + ny * c);
                        if distance[m] > d {
                            distance[m] = d;
                            next.push(m);
                        }
                    }
                }
            }
        }
        if next.is_empty() {
            break;
        }
        std::mem::swap(&mut frontier, &mut next);
        next.clear();
    }
    distance
}
/// The occupancy of `grid`'s blocks ([`BLOCK`] voxels a side): each block that holds visible
/// anatomy (`anatomy_mask`, one flag per voxel of `grid`) or overlay voxels (`overlay_inside`,
/// and the blocks the overlay reaches) is marked, and each empty block gets its Chebyshev
/// distance to the nearest marked one. Returns the block counts and the Rg8 texels: r the
/// distance, g 255 where the overlay reaches.
pub(super) fn occupancy(
    grid: &Grid,
    anatomy_mask: &[bool],
    overlay_inside: Option<&Mask>,
) -> ([usize; 3], Vec<u8>) {
    let [nx, ny, nz] = grid.dims;
    let blocks = [nx.div_ceil(BLOCK), ny.div_ceil(BLOCK), nz.div_ceil(BLOCK)];
    let block_index = |[i, j, k]: [usize; 3]| i + blocks[0] * (j + blocks[1] * k);
    let mut filled = vec![false; blocks[0] * blocks[1] * blocks[2]];
    // Blocks within one voxel of a visible voxel (trilinear samples reach that far).
    let near_blocks = |c: usize, n: usize| {
        let lo = c.saturating_sub(1) / BLOCK;
        let hi = (c + 1).min(n - 1) / BLOCK;
        lo..=hi
    };
    let mark = |filled: &mut Vec<bool>, [i, j, k]: [usize; 3]| {
        for bk in near_blocks(k, nz) {
            for bj in near_blocks(j, ny) {
                for bi in near_blocks(i, nx) {
                    filled[block_index([bi, bj, bk])] = true;
                }
            }
        }
    };
    for (n, &visible) in anatomy_mask.iter().enumerate() {
        if visible {
            mark(&mut filled, grid.ijk(n));
        }
    }
    let mut overlay_blocks = vec![false; filled.len()];
    if let Some(mask) = overlay_inside
        && let Ok(to_voxel) = grid.world_to_voxel()
    {
        // An overlay voxel reaches one overlay spacing around its centre.
        let reach = mask.grid.spacing_mm() / grid.spacing_mm();
        for (n, &inside) in mask.data.iter().enumerate() {
            if !inside {
                continue;
            }
            let p = to_voxel.transform_point3(mask.grid.point(mask.grid.ijk(n)));
            let lo = (p - reach).max(glam::DVec3::ZERO);
            let hi = p + reach;
            let range = |a: f64, b: f64, n: usize| {
                (a as usize / BLOCK)..=((b.max(0.0) as usize).min(n - 1) / BLOCK)
            };
            for bk in range(lo.z, hi.z, nz) {
                for bj in range(lo.y, hi.y, ny) {
                    for bi in range(lo.x, hi.x, nx) {
                        if bi < blocks[0] && bj < blocks[1] && bk < blocks[2] {
                            overlay_blocks[block_index([bi, bj, bk])] = true;
                        }
                    }
                }
            }
        }
    }
    for (f, &o) in filled.iter_mut().zip(&overlay_blocks) {
        *f |= o;
    }
    // r: 0 where there is something to see (the march samples the block), else the number
    // of blocks to the nearest such block (the march leaves that many blocks behind in one
    // step); g: the overlay reaches the block (only there is it sampled).
    let distance = chebyshev_distance(&filled, blocks, MAX_SKIP_BLOCKS);
    let texels: Vec<u8> = distance
        .iter()
        .enumerate()
        .flat_map(|(n, &d)| [d, if overlay_blocks[n] { 255 } else { 0 }])
        .collect();
    (blocks, texels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_blocks_know_their_chebyshev_distance_to_the_nearest_filled_one() {
        let dims = [9, 7, 5];
        let index = |i: usize, j: usize, k: usize| i + 9 * (j + 7 * k);
        let mut filled = vec![false; 9 * 7 * 5];
        filled[index(2, 3, 1)] = true;
        filled[index(8, 0, 4)] = true;
        let distance = chebyshev_distance(&filled, dims, 5);
        for k in 0..5usize {
            for j in 0..7usize {
                for i in 0..9usize {
                    let to = |(a, b, c): (usize, usize, usize)| {
                        i.abs_diff(a).max(j.abs_diff(b)).max(k.abs_diff(c))
                    };
                    let nearest = to((2, 3, 1)).min(to((8, 0, 4))).min(5);
                    assert_eq!(
                        usize::from(distance[index(i, j, k)]),
                        nearest,
                        "{i} {j} {k}"
                    );
                }
            }
        }
        // Nothing filled: every block is at the cap (nothing to meet within it).
        assert!(
            chebyshev_distance(&[false; 8], [2, 2, 2], 3)
                .iter()
                .all(|&d| d == 3)
        );
    }
}
