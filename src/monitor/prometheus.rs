//! The Prometheus text exposition format (version 0.0.4), as the kubelet's and cAdvisor's
//! endpoints write it: `# HELP` and `# TYPE` lines once per family, then one line per
//! sample, `name{label="value",...} value [timestamp in milliseconds]`. Label values are
//! escaped as the format says (backslash, double quote and line feed); HELP text escapes
//! backslash and line feed. Writes into a caller's `String`, so a renderer reuses one buffer
//! and allocates nothing per sample.

use std::fmt::Write;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's kind, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that only goes up (reset at restart).
    Counter,
    /// A value that goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines of family `name`.
pub fn family(out: &mut String, name: &str, help: &str, kind: Kind) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push_str("\n# TYPE ");
    out.push_str(name);
    out.push(' ');
    out.push_str(kind.as_str());
    out.push('\n');
}

/// Appends `value` escaped for a label value.
pub fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends a sample value as Prometheus reads it: `NaN`, `+Inf`, `-Inf`, or the shortest
/// decimal that reads back as the same `f64`.
pub fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{value}");
    }
}

/// Writes one sample line of `name` with `labels` (name, value pairs, written in the order
/// given), `value` and, when given, a timestamp in milliseconds since the epoch.
pub fn sample(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: f64,
    timestamp_ms: Option<i64>,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    if let Some(ts) = timestamp_ms {
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_and_samples_read_as_the_text_format() {
        let mut out = String::new();
        family(
            &mut out,
            "up_total",
            "Times up.\nSecond \\ line",
            Kind::Counter,
        );
        sample(
            &mut out,
            "up_total",
            &[("pod", "a\"b\\c\nd"), ("ns", "x")],
            1.5,
            Some(1700000000123),
        );
        sample(&mut out, "up_total", &[], 3.0, None);
        assert_eq!(
            out,
            "# HELP up_total Times up.\\nSecond \\\\ line\n# TYPE up_total counter\n\
             up_total{pod=\"a\\\"b\\\\c\\nd\",ns=\"x\"} 1.5 1700000000123\nup_total 3\n"
        );
    }

    #[test]
    fn special_values_use_the_formats_spelling() {
        let mut out = String::new();
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e21, 0.000_001] {
            write_value(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "NaN +Inf -Inf 1000000000000000000000 0.000001 ");
    }
}
