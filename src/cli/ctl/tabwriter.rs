//! Column alignment as Go's `text/tabwriter` does it, which is what gives kubectl's tables
//! and `describe` output their shape.
//!
//! Text is split into cells at tabs; a cell is the text *before* a tab, so the last piece of
//! a line is never padded. A column is a run of consecutive lines that all have a cell at
//! that index; its width is the widest cell plus `padding`, at least `min_width`. Runs are
//! found recursively per column (Go's `format`), so lines without tabs break alignment.

/// kubectl's table writer (`printers.GetNewTabWriter`): min width 6, padding 3.
pub(crate) const TABLE: Layout = Layout {
    min_width: 6,
    padding: 3,
};

/// kubectl's `describe` writer (`tabbedString`): min width 0, padding 2.
pub(crate) const DESCRIBE: Layout = Layout {
    min_width: 0,
    padding: 2,
};

/// Tabwriter settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Minimal cell width, padding included.
    pub min_width: usize,
    /// Spaces added to the widest cell of a column.
    pub padding: usize,
}

/// Aligns tab-separated `text` (lines ending in `\n`).
pub(crate) fn align(text: &str, layout: Layout) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_terminator('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    // widths[line][col] for every terminated cell
    let mut widths: Vec<Vec<usize>> = lines
        .iter()
        .map(|cells| vec![0; cells.len().saturating_sub(1)])
        .collect();
    format_block(&lines, &mut widths, 0, lines.len(), 0, layout);
    let mut out = String::with_capacity(text.len() + lines.len() * 8);
    for (cells, w) in lines.iter().zip(&widths) {
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if let Some(width) = w.get(i) {
                let len = cell.chars().count();
                out.extend(std::iter::repeat(' ').take(width.saturating_sub(len)));
            }
        }
        out.push('\n');
    }
    out
}

/// Go's `Writer.format`: sets the width of column `col` for each run of lines in
/// `start..end` that has a terminated cell there, then recurses into the next column.
fn format_block(
    lines: &[Vec<&str>],
    widths: &mut [Vec<usize>],
    start: usize,
    end: usize,
    col: usize,
    layout: Layout,
) {
    let mut i = start;
    while i < end {
        if widths[i].len() <= col {
            i += 1;
            continue;
        }
        let run_start = i;
        let mut width = layout.min_width;
        while i < end && widths[i].len() > col {
            width = width.max(lines[i][col].chars().count() + layout.padding);
            i += 1;
        }
        for w in &mut widths[run_start..i] {
            w[col] = width;
        }
        format_block(lines, widths, run_start, i, col + 1, layout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_pad_to_widest_plus_three_with_min_six() {
        let text = "NAME\tREADY\tSTATUS\tAGE\nshared-volumes\t0/2\tPending\t5s\n";
        assert_eq!(
            align(text, TABLE),
            "NAME             READY   STATUS    AGE\n\
             shared-volumes   0/2     Pending   5s\n"
        );
        // short cells still take the minimum width
        assert_eq!(align("A\tB\nx\ty\n", TABLE), "A     B\nx     y\n");
    }

    #[test]
    fn lines_without_tabs_split_columns_into_runs() {
        let text = "Name:\tx\nLabels:\ta=b\nContainers:\n  image-with-long-label:\tnginx\n";
        assert_eq!(
            align(text, DESCRIBE),
            "Name:    x\nLabels:  a=b\nContainers:\n  image-with-long-label:  nginx\n"
        );
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        assert_eq!(align("ä\tb\nxy\tc\n", DESCRIBE), "ä   b\nxy  c\n");
    }
}
