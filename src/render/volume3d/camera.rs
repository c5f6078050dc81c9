//! The 3D view's camera: an orbit around a target in MNI mm, its projection, panning, and
//! picking the anatomy's surface under the pointer.

use glam::{Mat4, Vec3, Vec4};

use crate::volume::Volume;

/// An orbiting camera around a target point (MNI mm).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// The point looked at.
    pub target: Vec3,
    /// Angle around the vertical axis, degrees: 0 looks from behind (posterior), 90 from the
    /// right, −90 from the left.
    pub azimuth_deg: f32,
    /// Angle above the horizontal, degrees.
    pub elevation_deg: f32,
    /// Distance from the target, mm.
    pub distance_mm: f32,
    /// Vertical field of view, degrees.
    pub fov_deg: f32,
}

impl Default for Camera {
    /// The left hemisphere from behind and above: the visual cortex in view.
    fn default() -> Self {
        Self {
            target: Vec3::new(0.0, -18.0, 10.0),
            azimuth_deg: -55.0,
            elevation_deg: 20.0,
            distance_mm: 420.0,
            fov_deg: 30.0,
        }
    }
}

impl Camera {
    /// The camera position, mm.
    pub fn eye(&self) -> Vec3 {
        let (az, el) = (
            self.azimuth_deg.to_radians(),
            self.elevation_deg.to_radians(),
        );
        self.target
            + self.distance_mm * Vec3::new(az.sin() * el.cos(), -az.cos() * el.cos(), el.sin())
    }

    /// The vertical field of view (radians) of an image of `aspect` = width / height: `fov_deg`
    /// spans the image's shorter side, so that a tall, narrow view still shows the whole brain.
    pub fn vertical_fov(&self, aspect: f32) -> f32 {
        let fov = self.fov_deg.to_radians();
        if aspect >= 1.0 {
            fov
        } else {
            2.0 * ((fov / 2.0).tan() / aspect.max(1e-3)).atan()
        }
    }

    /// World → clip matrix for an image of `aspect` = width / height.
    pub fn view_projection(&self, aspect: f32) -> Mat4 {
        let view = glam::camera::rh::view::look_at_mat4(self.eye(), self.target, Vec3::Z);
        let near = (self.distance_mm - 200.0).max(1.0);
        let projection =
        // WebGPU's clip space: depth 0..1, y up (as Direct3D's).
            glam::camera::rh::proj::directx::perspective(
                self.vertical_fov(aspect),
                aspect.max(1e-3),
                near,
                self.distance_mm + 200.0,
            );
        projection * view
    }
}

impl Camera {
    /// Moves the camera and what it looks at together across the view, as a drag of
    /// (`dx`, `dy`) pixels (y down) on a view of `size` pixels would: the point under the
    /// pointer at the target's depth stays under it.
    pub fn pan(&mut self, dx: f32, dy: f32, size: (f32, f32)) {
        let (width, height) = (size.0.max(1.0), size.1.max(1.0));
        let forward = (self.target - self.eye()).normalize_or_zero();
        let right = forward.cross(Vec3::Z).normalize_or(Vec3::X);
        let up = right.cross(forward);
        // Millimetres per pixel in the plane through the target.
        let half_height = (self.vertical_fov(width / height) / 2.0).tan();
        let mm_per_px = 2.0 * self.distance_mm * half_height / height;
        self.target += (-dx * right + dy * up) * mm_per_px;
    }
}

/// Grey level (0..1) above which the 3D view shows the anatomy as opaque enough to count as its
/// surface when picking (the marcher's opacity ramp starts at 0.08).
pub const SURFACE_GREY: f32 = 0.1;

impl Camera {
    /// The first point along the ray through `ndc` (−1..1, y up) of an image of `aspect` where
    /// `anatomy` (grey levels 0..1 in MNI mm) reaches [`SURFACE_GREY`]: what a click on the 3D
    /// view points at. Marched on the CPU in half-millimetre steps; `None` when the ray misses.
    pub fn pick_surface(&self, aspect: f32, ndc: glam::Vec2, anatomy: &Volume) -> Option<Vec3> {
        let inverse = self.view_projection(aspect).inverse();
        let unproject = |z: f32| {
            let p = inverse * Vec4::new(ndc.x, ndc.y, z, 1.0);
            p.truncate() / p.w
        };
        let (near, far) = (unproject(0.0), unproject(1.0));
        let dir = (far - near).normalize_or_zero();
        let to_voxel = anatomy.grid.world_to_voxel().ok()?;
        let length = near.distance(far);
        const STEP_MM: f32 = 0.5;
        (0..(length / STEP_MM) as usize)
            .map(|k| near + dir * (k as f32 * STEP_MM))
            .find(|p| {
                let v = to_voxel.transform_point3(p.as_dvec3());
                anatomy.sample_voxel(v).is_some_and(|g| g >= SURFACE_GREY)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Grid;

    #[test]
    fn panning_keeps_the_point_under_the_pointer() {
        // A wide view and a tall, narrow one (whose field of view spans its width).
        for (width, height) in [(800.0, 600.0), (250.0, 780.0)] {
            pan_check(width, height);
        }
    }

    fn pan_check(width: f32, height: f32) {
        let mut camera = Camera::default();
        let aspect = width / height;
        // A point at the target's depth, 100 px right of the centre.
        let before = camera.view_projection(aspect);
        let ndc_x = 100.0 / (height * aspect / 2.0);
        let ray_point = before
            .inverse()
            .project_point3(glam::Vec3::new(ndc_x, 0.0, 0.5));
        let eye = camera.eye();
        let direction = (ray_point - eye).normalize();
        let forward = (camera.target - eye).normalize();
        let point = eye + direction * (camera.distance_mm / direction.dot(forward));
        let (distance, azimuth) = (camera.distance_mm, camera.azimuth_deg);
        camera.pan(-100.0, 0.0, (width, height));
        // Dragged 100 px left, the point is now at the centre; the view only moved sideways.
        let after = camera.view_projection(aspect).project_point3(point);
        assert!(after.x.abs() < 1e-3 && after.y.abs() < 1e-3, "{after:?}");
        assert_eq!(
            (camera.distance_mm, camera.azimuth_deg),
            (distance, azimuth)
        );
        assert!((camera.eye() - eye).dot(forward).abs() < 1e-3);
    }

    #[test]
    fn a_narrow_view_keeps_the_field_of_view_across_its_width() {
        let camera = Camera::default();
        // A point on the edge of a square view's field stays on the edge of a narrow view's.
        let square = camera.view_projection(1.0);
        let narrow = camera.view_projection(0.25);
        let edge = square
            .inverse()
            .project_point3(glam::Vec3::new(1.0, 0.0, 0.5));
        let seen = narrow.project_point3(edge);
        assert!((seen.x - 1.0).abs() < 1e-3, "{seen:?}");
        assert!((camera.vertical_fov(2.0) - camera.fov_deg.to_radians()).abs() < 1e-6);
    }

    #[test]
    fn a_pick_lands_on_the_near_surface_of_a_ball() {
        // A ball of radius 50 mm at the origin, grey 1 inside.
        let grid = Grid::mni(2.0).expect("grid");
        let data = grid
            .points()
            .iter()
            .map(|p| if p.length() < 50.0 { 1.0 } else { 0.0 })
            .collect();
        let ball = Volume::new(grid, data).expect("volume");
        let camera = Camera {
            target: Vec3::ZERO,
            ..Camera::default()
        };
        let hit = camera
            .pick_surface(4.0 / 3.0, glam::Vec2::ZERO, &ball)
            .expect("the centre ray hits the ball");
        assert!((hit.length() - 50.0).abs() < 2.5, "{hit:?}");
        // On the camera's side of the ball.
        assert!(hit.dot(camera.eye()) > 0.0);
        // A ray far off to the side misses.
        assert_eq!(
            camera.pick_surface(4.0 / 3.0, glam::Vec2::new(0.95, 0.95), &ball),
            None
        );
    }
}
