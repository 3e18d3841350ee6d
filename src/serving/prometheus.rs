//! Prometheus' text exposition format (version 0.0.4), as both HTTPS servers write their
//! `/metrics`: a `# HELP` and `# TYPE` line per family, then one line per sample with its
//! labels, label values escaped as the format requires.

use std::fmt::{Display, Write};

/// The media type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a family's samples are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Bucketed observations with their count and sum.
    Histogram,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Counter => "counter",
            Type::Gauge => "gauge",
            Type::Histogram => "histogram",
        }
    }
}

/// Writes the `# HELP` and `# TYPE` lines of family `name`.
pub fn family(out: &mut String, name: &str, help: &str, kind: Type) {
    // writing to a String cannot fail
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {}", kind.as_str());
}

/// Writes one sample line: `name{labels} value`.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    sample_at(out, name, labels, value, None);
}

/// Writes one sample line with its time in milliseconds since the epoch, as the kubelet
/// stamps samples it did not take at scrape time.
pub fn sample_at(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    value: impl Display,
    timestamp_ms: Option<i64>,
) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    let _ = match timestamp_ms {
        Some(ms) => writeln!(out, " {value} {ms}"),
        None => writeln!(out, " {value}"),
    };
}

/// A float as the format spells it (`+Inf`, `-Inf`, `NaN`).
pub fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn escape_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_are_written_with_escaped_labels() {
        let mut out = String::new();
        family(&mut out, "x_total", "Things.\nCounted.", Type::Counter);
        sample(&mut out, "x_total", &[("a", "q\"uo\\te\n")], 3);
        sample(&mut out, "x_total", &[], 4);
        sample_at(&mut out, "y", &[("b", "1")], float(0.5), Some(1700));
        assert_eq!(
            out,
            "# HELP x_total Things.\\nCounted.\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"uo\\\\te\\n\"} 3\nx_total 4\ny{b=\"1\"} 0.5 1700\n"
        );
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NAN), "NaN");
    }
}
