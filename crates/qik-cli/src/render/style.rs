//! ANSI styling that switches off cleanly, and human durations.

use std::fmt::Write as _;
use std::time::Duration;

/// Wraps text in ANSI codes when styled, and leaves it alone otherwise.
#[derive(Clone, Copy, Debug)]
pub(super) struct Paint {
    pub(super) on: bool,
}

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub(super) fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    pub(super) fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }

    pub(super) fn red(self, text: &str) -> String {
        self.wrap("31", text)
    }

    pub(super) fn bold_red(self, text: &str) -> String {
        self.wrap("1;31", text)
    }

    pub(super) fn green(self, text: &str) -> String {
        self.wrap("32", text)
    }

    pub(super) fn yellow(self, text: &str) -> String {
        self.wrap("33", text)
    }

    pub(super) fn bold_yellow(self, text: &str) -> String {
        self.wrap("1;33", text)
    }

    /// A marker: the glyph when styled, the ASCII word otherwise.
    pub(super) fn pick<'a>(self, glyph: &'a str, ascii: &'a str) -> &'a str {
        if self.on { glyph } else { ascii }
    }
}

/// `0.04s`, `3.2s`, `1m 05s`, `2h 03m`.
pub(super) fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let mut out = String::new();
    if secs < 1.0 {
        let _ = write!(out, "{secs:.2}s");
    } else if secs < 60.0 {
        let _ = write!(out, "{secs:.1}s");
    } else {
        let whole = d.as_secs();
        if whole < 3600 {
            let _ = write!(out, "{}m {:02}s", whole / 60, whole % 60);
        } else {
            let _ = write!(out, "{}h {:02}m", whole / 3600, (whole % 3600) / 60);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(40)), "0.04s");
        assert_eq!(duration(Duration::from_millis(1234)), "1.2s");
        assert_eq!(duration(Duration::from_secs(65)), "1m 05s");
        assert_eq!(duration(Duration::from_secs(7380)), "2h 03m");
    }

    #[test]
    fn paint_off_is_plain() {
        let p = Paint { on: false };
        assert_eq!(p.red("x"), "x");
        assert_eq!(p.pick("✔", "ok"), "ok");
        let p = Paint { on: true };
        assert_eq!(p.red("x"), "\x1b[31mx\x1b[0m");
    }
}
