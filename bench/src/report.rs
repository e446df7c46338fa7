//! The figures, their goals, and the Markdown table `make bench` prints. Every figure lands in
//! `results.json` as one [`Figure`] (the README's Performance section documents the schema).

use serde::Serialize;

/// A bound the project set for a figure (README, Performance): the median must not exceed
/// `max`, measured as `of` says.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Goal {
    /// `"ratio"`: latchkey ÷ baseline; `"diff"`: latchkey − baseline; `"value"`: latchkey alone.
    pub of: &'static str,
    pub max: f64,
}

impl Goal {
    pub const fn ratio(max: f64) -> Self {
        Self { of: "ratio", max }
    }

    pub const fn diff(max: f64) -> Self {
        Self { of: "diff", max }
    }

    pub const fn value(max: f64) -> Self {
        Self { of: "value", max }
    }

    /// "≤ 1.10×", "≤ +40.0 ms", "≤ 1.20".
    fn text(&self, unit: &str) -> String {
        match self.of {
            "ratio" => format!("≤ {:.2}×", self.max),
            "diff" => format!("≤ +{}", fmt_val(Some(self.max), unit)),
            _ => format!("≤ {}", fmt_val(Some(self.max), unit)),
        }
    }

    /// Whether a figure meets it; `None` when the figure (or its baseline) is missing.
    fn met(&self, l: Option<f64>, b: Option<f64>) -> Option<bool> {
        let l = l?;
        let v = match self.of {
            "ratio" => l / b.filter(|b| *b > 0.0)?,
            "diff" => l - b?,
            _ => l,
        };
        // A figure exactly at the goal meets it (give or take floating-point rounding).
        Some(v <= self.max + 1e-9)
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub group: &'static str,
    pub what: String,
    pub unit: &'static str,
    pub latchkey: Option<f64>,
    pub baseline: Option<f64>,
    pub baseline_name: String,
    /// "ratio" (latchkey / baseline) or "diff" (latchkey − baseline).
    pub compare: &'static str,
    pub runs: usize,
    pub samples_latchkey: Vec<f64>,
    pub samples_baseline: Vec<f64>,
    pub note: String,
    /// The bound it should keep, where the project has set one.
    pub goal: Option<Goal>,
    /// Whether the median keeps it (`null`: no goal, or nothing measured).
    pub meets_goal: Option<bool>,
}

impl Figure {
    /// Sets the figure's goal and judges it.
    pub fn goal(&mut self, goal: Goal) -> &mut Self {
        self.meets_goal = goal.met(self.latchkey, self.baseline);
        self.goal = Some(goal);
        self
    }
}

pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 { s[m] } else { (s[m - 1] + s[m]) / 2.0 })
}

pub fn fmt_val(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "—".into(),
        Some(x) => match unit {
            "ms" if x >= 100.0 => format!("{x:.0} ms"),
            "ms" => format!("{x:.1} ms"),
            "s" => format!("{x:.2} s"),
            "MiB" => format!("{x:.1} MiB"),
            "MB" => format!("{x:.2} MB"),
            "kB" => format!("{x:.1} kB"),
            "switches" => format!("{x:.0}"),
            "×" => format!("{x:.2}×"),
            u => format!("{x:.2} {u}"),
        },
    }
}

pub fn table(figs: &[Figure]) -> String {
    let mut out = String::from(
        "| group | figure | Latchkey | baseline | vs baseline | goal | meets goal | runs |\n\
         |---|---|---:|---:|---:|---:|:---:|---:|\n",
    );
    for f in figs {
        let base = match f.baseline {
            Some(_) => format!("{} ({})", fmt_val(f.baseline, f.unit), f.baseline_name),
            None => "—".into(),
        };
        let cmp = match (f.latchkey, f.baseline, f.compare) {
            (Some(l), Some(b), "ratio") if b > 0.0 => format!("{:.2}×", l / b),
            (Some(l), Some(b), "diff") => {
                let d = l - b;
                let s = fmt_val(Some(d.abs()), f.unit);
                if d >= 0.0 { format!("+{s}") } else { format!("−{s}") }
            }
            _ => "—".into(),
        };
        let goal = f.goal.map_or_else(|| "—".to_owned(), |g| g.text(f.unit));
        let meets = match f.meets_goal {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {goal} | {meets} | {} |\n",
            f.group,
            f.what,
            fmt_val(f.latchkey, f.unit),
            base,
            cmp,
            f.runs
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(l: f64, b: Option<f64>) -> Figure {
        Figure {
            group: "G",
            what: "w".into(),
            unit: "ms",
            latchkey: Some(l),
            baseline: b,
            baseline_name: "base".into(),
            compare: "diff",
            runs: 1,
            samples_latchkey: vec![l],
            samples_baseline: b.into_iter().collect(),
            note: String::new(),
            goal: None,
            meets_goal: None,
        }
    }

    #[test]
    fn goals_are_judged_on_the_median_as_their_kind_says() {
        assert_eq!(fig(140.0, Some(100.0)).goal(Goal::diff(40.0)).meets_goal, Some(true));
        assert_eq!(fig(140.5, Some(100.0)).goal(Goal::diff(40.0)).meets_goal, Some(false));
        assert_eq!(fig(110.0, Some(100.0)).goal(Goal::ratio(1.1)).meets_goal, Some(true));
        assert_eq!(fig(111.0, Some(100.0)).goal(Goal::ratio(1.1)).meets_goal, Some(false));
        assert_eq!(fig(1.3, None).goal(Goal::value(1.2)).meets_goal, Some(false));
        assert_eq!(fig(1.0, None).goal(Goal::ratio(1.1)).meets_goal, None, "no baseline: not judged");
    }

    #[test]
    fn the_table_prints_the_goal_and_whether_it_is_met() {
        let mut f = fig(150.0, Some(100.0));
        f.goal(Goal::diff(40.0));
        let t = table(&[f, fig(1.0, None)]);
        assert!(t.contains("| +50.0 ms | ≤ +40.0 ms | **no** | 1 |"), "{t}");
        assert!(t.contains("| — | — | — | 1 |"), "{t}");
    }
}
