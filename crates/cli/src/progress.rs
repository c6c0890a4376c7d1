//! Progress bars on stderr (indicatif), drawn only when stderr is a terminal.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::human;

/// What a bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of input read.
    Bytes,
    /// Rows or events.
    Items,
}

/// A progress bar with an events-per-second message. Cheap to clone.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
}

impl Progress {
    /// A bar labelled `prefix`; `total` is unknown for standard input.
    pub fn new(prefix: &str, unit: Unit, total: Option<u64>) -> Progress {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        let pos = match unit {
            Unit::Bytes => "{bytes}/{total_bytes}",
            Unit::Items => "{human_pos}/{human_len}",
        };
        let template = match (total, unit) {
            (Some(_), _) => format!("{{prefix:>10}} [{{bar:30}}] {pos} · {{msg}} · {{eta}} left"),
            (None, Unit::Bytes) => "{prefix:>10} {spinner} {bytes} · {msg}".to_string(),
            (None, Unit::Items) => "{prefix:>10} {spinner} {msg}".to_string(),
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(prefix.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    /// Moves the bar to `pos` and shows how many events went by, and how fast.
    pub fn update(&self, pos: u64, events: u64) {
        self.bar.set_position(pos);
        if self.bar.is_hidden() {
            return;
        }
        let rate = human::per_sec(events, self.start.elapsed());
        self.bar.set_message(format!(
            "{} events, {}/s",
            human::count(events),
            human::count(rate)
        ));
    }

    /// Prints a line on stderr without mangling the bar.
    pub fn eprintln(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
