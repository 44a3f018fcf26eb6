//! The time-series chart, drawn on the server as SVG by `plotters`: no
//! script, nothing for the content-security policy to allow, and it prints.
//! The current period is the solid line; the comparison period, aligned by
//! position, the dashed one.

use plotters::prelude::*;

use crate::query::Interval;
use crate::stats::Metric;
use crate::table::Cell;

const ACCENT: RGBColor = RGBColor(0x24, 0x56, 0xd6);
const COMPARED: RGBColor = RGBColor(0x98, 0xa2, 0xb3);
const GRID: RGBColor = RGBColor(0xe3, 0xe7, 0xee);
const INK: RGBColor = RGBColor(0x5b, 0x65, 0x76);
const MARK: RGBColor = RGBColor(0xc2, 0x6a, 0x00);

fn label(metric: Metric, v: f64) -> String {
    match metric {
        Metric::Visits | Metric::Pageviews | Metric::AnonymousHits => Cell::Count(v.round() as u64).display(),
        Metric::BounceRate | Metric::Conversion => format!("{:.0} %", v * 100.0),
        Metric::Duration => Cell::Duration(v).display(),
        Metric::PagesPerVisit => format!("{v:.1}"),
        Metric::Revenue => format!("{v:.0}"),
    }
}

fn x_label(at: i64, interval: Interval) -> String {
    let text = Cell::Time(at, interval).display();
    match interval {
        // "2026-11-23 14:00" → "23 14:00" is still ambiguous; keep the hour.
        Interval::Hour => text[11..].to_string(),
        Interval::Month => text,
        _ => text[5..].to_string(),
    }
}

/// The chart as an `<svg>` element, or `None` when drawing failed.
/// The points are `(bucket start, released value)`; `marks` are the
/// annotations `(moment, text)`, each a vertical line at its bucket (their
/// text is listed under the chart).
pub fn svg(metric: Metric, interval: Interval, now: &[(i64, f64)], before: Option<&[(i64, f64)]>, marks: &[(i64, String)]) -> Option<String> {
    let mut out = String::new();
    let n = now.len().max(1);
    let values = |p: &[(i64, f64)]| p.iter().map(|p| p.1).collect::<Vec<f64>>();
    let (current, compared) = (values(now), before.map(values).unwrap_or_default());
    let top = current.iter().chain(&compared).copied().fold(0.0_f64, f64::max);
    let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    {
        let root = SVGBackend::with_string(&mut out, (960, 260)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(64)
            .build_cartesian_2d(0..(n as i32 - 1).max(1), 0.0..top)
            .ok()?;
        let ats: Vec<i64> = now.iter().map(|p| p.0).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(GRID)
            .x_labels(8.min(n))
            .y_labels(5)
            .label_style(("sans-serif", 13).into_font().color(&INK))
            .x_label_formatter(&|i| ats.get(*i as usize).map(|at| x_label(*at, interval)).unwrap_or_default())
            .y_label_formatter(&|v| label(metric, *v))
            .draw()
            .ok()?;
        if !compared.is_empty() {
            chart
                .draw_series(DashedLineSeries::new(compared.iter().enumerate().map(|(i, v)| (i as i32, *v)), 6, 4, COMPARED.stroke_width(2)))
                .ok()?;
        }
        chart.draw_series(AreaSeries::new(current.iter().enumerate().map(|(i, v)| (i as i32, *v)), 0.0, ACCENT.mix(0.08)).border_style(ACCENT.stroke_width(2))).ok()?;
        for (at, _) in marks {
            let Some(i) = ats.iter().rposition(|b| b <= at) else { continue };
            let x = i as i32;
            chart.draw_series(DashedLineSeries::new([(x, 0.0), (x, top)], 3, 3, MARK.stroke_width(2))).ok()?;
            chart.draw_series(std::iter::once(TriangleMarker::new((x, top * 0.97), 6, MARK.filled()))).ok()?;
        }
        root.present().ok()?;
    }
    // Say what the picture is to screen readers.
    Some(out.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{} over time\" class=\"chart\" ", metric.label()), 1))
}

/// Bars, one per labelled value (order values by state, ZIP3), largest
/// first as given; `None` when drawing failed.
pub fn bars(title: &str, bars: &[(String, f64)]) -> Option<String> {
    let mut out = String::new();
    let n = bars.len().max(1) as u32;
    let top = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max);
    let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    {
        let root = SVGBackend::with_string(&mut out, (960, 240)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(72)
            // A segmented range includes its end: n bars are 0..n-1.
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)
            .ok()?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .axis_style(GRID)
            .x_labels(bars.len().min(30))
            .y_labels(5)
            .label_style(("sans-serif", 12).into_font().color(&INK))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => bars.get(*i as usize).map(|b| b.0.clone()).unwrap_or_default(),
                _ => String::new(),
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .ok()?;
        chart
            .draw_series(Histogram::vertical(&chart).style(ACCENT.mix(0.8).filled()).margin(3).data(bars.iter().enumerate().map(|(i, b)| (i as u32, b.1))))
            .ok()?;
        root.present().ok()?;
    }
    let label = title.replace(['"', '<', '>', '&'], "");
    Some(out.replacen("<svg ", &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"chart\" "), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_periods_without_inline_style() {
        let pts = |k: i64| (0..7).map(|i| (1_795_000_000 + i * 86_400, (k * i) as f64)).collect::<Vec<_>>();
        let s = svg(Metric::Visits, Interval::Day, &pts(10), Some(&pts(5)), &[]).unwrap();
        assert!(!s.contains("#C26A00"), "no annotation, no mark");
        let marked = svg(Metric::Visits, Interval::Day, &pts(10), None, &[(1_795_000_000 + 3 * 86_400 + 600, "Sale".into())]).unwrap();
        assert!(marked.contains("#C26A00") && !marked.contains("style="), "an annotation is a marked line");
        assert!(s.starts_with("<svg role=\"img\""), "{}", &s[..80]);
        assert!(s.contains("stroke=\"#2456D6\"") || s.contains("#2456D6"), "the current line");
        assert!(s.contains("#98A2B3"), "the comparison line");
        assert!(!s.contains("style="), "the CSP forbids inline style");
        assert!(!s.contains("<script"));
        let b = bars("Order values by state", &[("VA".into(), 120.0), ("MD".into(), 80.0)]).unwrap();
        assert!(b.contains("VA") && b.contains("MD") && b.contains("#2456D6") && !b.contains("style="), "{b}");
        let empty = svg(Metric::Revenue, Interval::Hour, &[], None, &[(1, "before any point".into())]).unwrap();
        assert!(empty.contains("<svg"));
    }
}
