//! A progress bar on stderr for slow commands (hidden when stderr is not a terminal).

/// A labelled progress bar.
pub struct ProgressBar(indicatif::ProgressBar);

impl ProgressBar {
    /// A bar counting points that appears once the first update arrives.
    pub fn new(label: String) -> Self {
        Self::counting(label, "points")
    }

    /// A bar counting `unit`s (e.g. "images").
    pub fn counting(label: String, unit: &str) -> Self {
        let bar = indicatif::ProgressBar::new(0);
        let style = indicatif::ProgressStyle::with_template(&format!(
            "{{msg:>12}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{per_sec}}, ETA {{eta}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(label);
        Self(bar)
    }

    /// Changes the label.
    pub fn set_label(&self, label: String) {
        self.0.set_message(label);
    }

    /// Sets the position and total.
    pub fn update(&self, done: usize, total: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
    }

    /// Prints a line above the bar.
    pub fn println(&self, line: String) {
        if self.0.is_hidden() {
            eprintln!("{line}");
        } else {
            self.0.println(line);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
