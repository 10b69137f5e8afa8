//! Hand-written SVG charts (no font or system-library dependencies).

use std::fmt::Write;

/// One line or bar group: a map.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// Drawn heavier (our maps).
    pub bold: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "Nice" axis maximum and tick step for `0..=max`.
fn nice(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.25);
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        out,
        r#"<text x="8" y="16" font-size="13" font-weight="bold">{}</text>"#,
        esc(title)
    );
}

/// Lines of `values[series][x]` over categorical `xs`, y from zero.
pub fn line_chart(
    title: &str,
    y_label: &str,
    xs: &[String],
    series: &[Series],
    values: &[Vec<Option<f64>>],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let (w, h) = (620.0, 300.0);
    let (l, r, t, b) = (64.0, 230.0, 30.0, 40.0);
    let (pw, ph) = (w - l - r, h - t - b);
    let max = values
        .iter()
        .flatten()
        .flatten()
        .fold(0.0f64, |a, &v| a.max(v));
    let (ymax, step) = nice(max);
    let mut o = String::new();
    header(&mut o, w, h, title);
    let y = |v: f64| t + ph - v / ymax * ph;
    let x = |i: usize| {
        if xs.len() <= 1 {
            l + pw / 2.0
        } else {
            l + 20.0 + (pw - 40.0) * i as f64 / (xs.len() - 1) as f64
        }
    };
    let mut v = 0.0;
    while v <= ymax + step / 2.0 {
        let _ = write!(
            o,
            r##"<line x1="{l}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            l + pw,
            l - 4.0,
            y(v) + 4.0,
            esc(&fmt(v)),
            y = y(v)
        );
        v += step;
    }
    for (i, xl) in xs.iter().enumerate() {
        let _ = write!(
            o,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(i),
            t + ph + 16.0,
            esc(xl)
        );
    }
    let _ = write!(
        o,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">threads</text><text x="12" y="{:.1}" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
        l + pw / 2.0,
        h - 6.0,
        t + ph / 2.0,
        t + ph / 2.0,
        esc(y_label)
    );
    for (si, s) in series.iter().enumerate() {
        let pts: Vec<(f64, f64, f64)> = values[si]
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (x(i), y(v), v)))
            .collect();
        let width = if s.bold { 3.0 } else { 1.6 };
        if pts.len() > 1 {
            let path: Vec<String> = pts
                .iter()
                .map(|(px, py, _)| format!("{px:.1},{py:.1}"))
                .collect();
            let _ = write!(
                o,
                r#"<polyline fill="none" stroke="{}" stroke-width="{width}" points="{}"/>"#,
                s.color,
                path.join(" ")
            );
        }
        for (px, py, v) in &pts {
            let _ = write!(
                o,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="{}" fill="{}"><title>{}: {}</title></circle>"#,
                if s.bold { 4.5 } else { 3.0 },
                s.color,
                esc(&s.name),
                esc(&fmt(*v))
            );
        }
        let ly = t + 8.0 + si as f64 * 16.0;
        let _ = write!(
            o,
            r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="{width}"/><text x="{}" y="{}"{}>{}</text>"#,
            l + pw + 12.0,
            l + pw + 30.0,
            s.color,
            l + pw + 34.0,
            ly + 4.0,
            if s.bold { r#" font-weight="bold""# } else { "" },
            esc(&s.name)
        );
    }
    o.push_str("</svg>");
    o
}

/// One row per series, markers per labelled value on a log axis.
pub fn dot_plot(
    title: &str,
    labels: &[&str],
    series: &[Series],
    values: &[Vec<Option<f64>>],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let row_h = 22.0;
    let (l, r, t, b) = (180.0, 36.0, 48.0, 30.0);
    let w = 620.0;
    let h = t + b + row_h * series.len() as f64;
    let pw = w - l - r;
    let all: Vec<f64> = values
        .iter()
        .flatten()
        .flatten()
        .copied()
        .filter(|v| *v > 0.0)
        .collect();
    let mut o = String::new();
    header(&mut o, w, h, title);
    if all.is_empty() {
        o.push_str(r#"<text x="150" y="60">no data</text></svg>"#);
        return o;
    }
    let lo = all
        .iter()
        .fold(f64::INFINITY, |a, &v| a.min(v))
        .log10()
        .floor();
    let hi = all
        .iter()
        .fold(0.0f64, |a, &v| a.max(v))
        .log10()
        .ceil()
        .max(lo + 1.0);
    let x = |v: f64| l + (v.max(1e-9).log10() - lo) / (hi - lo) * pw;
    let shapes = ["circle", "square", "diamond", "triangle", "cross"];
    for (i, lab) in labels.iter().enumerate() {
        let lx = l + i as f64 * 80.0;
        let _ = write!(o, "{}", marker(shapes[i % shapes.len()], lx, 32.0, "#333"));
        let _ = write!(o, r#"<text x="{}" y="36">{}</text>"#, lx + 8.0, esc(lab));
    }
    let mut d = lo;
    while d <= hi + 1e-9 {
        let v = 10f64.powf(d);
        let _ = write!(
            o,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{t}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            t + row_h * series.len() as f64,
            h - 12.0,
            esc(&fmt(v)),
            x = x(v)
        );
        d += 1.0;
    }
    for (si, s) in series.iter().enumerate() {
        let cy = t + row_h * (si as f64 + 0.5);
        let _ = write!(
            o,
            r#"<text x="{}" y="{:.1}" text-anchor="end"{}>{}</text>"#,
            l - 8.0,
            cy + 4.0,
            if s.bold { r#" font-weight="bold""# } else { "" },
            esc(&s.name)
        );
        let pts: Vec<(usize, f64)> = values[si]
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .collect();
        if let (Some(a), Some(z)) = (pts.first(), pts.last()) {
            let _ = write!(
                o,
                r#"<line x1="{:.1}" x2="{:.1}" y1="{cy:.1}" y2="{cy:.1}" stroke="{}" stroke-width="{}" opacity="0.5"/>"#,
                x(a.1),
                x(z.1),
                s.color,
                if s.bold { 3 } else { 1 }
            );
        }
        for (i, v) in pts {
            let _ = write!(
                o,
                "<g><title>{} {}: {}</title>{}</g>",
                esc(&s.name),
                esc(labels[i]),
                esc(&fmt(v)),
                marker(shapes[i % shapes.len()], x(v), cy, s.color)
            );
        }
    }
    o.push_str("</svg>");
    o
}

fn marker(shape: &str, x: f64, y: f64, color: &str) -> String {
    match shape {
        "circle" => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="4.5" fill="{color}"/>"#),
        "square" => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="8" height="8" fill="{color}"/>"#,
            x - 4.0,
            y - 4.0
        ),
        "diamond" => format!(
            r#"<polygon points="{:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1}" fill="{color}"/>"#,
            x - 5.0,
            y - 5.0,
            x + 5.0,
            y + 5.0
        ),
        "triangle" => format!(
            r#"<polygon points="{:.1},{:.1} {x:.1},{:.1} {:.1},{:.1}" fill="{color}"/>"#,
            x - 5.0,
            y + 4.0,
            y - 5.0,
            x + 5.0,
            y + 4.0
        ),
        _ => format!(
            r#"<path d="M{:.1},{:.1}L{:.1},{:.1}M{:.1},{:.1}L{:.1},{:.1}" stroke="{color}" stroke-width="2"/>"#,
            x - 4.0,
            y - 4.0,
            x + 4.0,
            y + 4.0,
            x - 4.0,
            y + 4.0,
            x + 4.0,
            y - 4.0
        ),
    }
}

/// Horizontal bars, one per series, with an optional labelled reference line.
pub fn bar_chart(
    title: &str,
    series: &[Series],
    values: &[Option<f64>],
    reference: Option<(&str, f64)>,
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let row_h = 22.0;
    let (l, r, t, b) = (180.0, 80.0, 30.0, 24.0);
    let w = 620.0;
    let h = t + b + row_h * series.len() as f64;
    let pw = w - l - r;
    let lo = values.iter().flatten().fold(0.0f64, |a, &v| a.min(v));
    let hi = values
        .iter()
        .flatten()
        .copied()
        .chain(reference.map(|r| r.1))
        .fold(0.0f64, f64::max)
        .max(lo + 1e-9);
    let span = hi - lo;
    let x = |v: f64| l + (v - lo) / span * pw;
    let mut o = String::new();
    header(&mut o, w, h, title);
    for (si, s) in series.iter().enumerate() {
        let y = t + row_h * si as f64;
        let _ = write!(
            o,
            r#"<text x="{}" y="{:.1}" text-anchor="end"{}>{}</text>"#,
            l - 8.0,
            y + row_h / 2.0 + 4.0,
            if s.bold { r#" font-weight="bold""# } else { "" },
            esc(&s.name)
        );
        match values[si] {
            Some(v) => {
                let (a, z) = (x(0.0).min(x(v)), x(0.0).max(x(v)));
                let _ = write!(
                    o,
                    r#"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{}" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}">{}</text>"#,
                    y + 3.0,
                    (z - a).max(1.0),
                    row_h - 6.0,
                    s.color,
                    esc(&s.name),
                    esc(&fmt(v)),
                    z + 4.0,
                    y + row_h / 2.0 + 4.0,
                    esc(&fmt(v))
                );
            }
            None => {
                let _ = write!(
                    o,
                    r##"<text x="{}" y="{:.1}" fill="#999">not built yet / no result</text>"##,
                    l + 4.0,
                    y + row_h / 2.0 + 4.0
                );
            }
        }
    }
    if let Some((label, v)) = reference {
        let rx = x(v);
        let _ = write!(
            o,
            r##"<line x1="{rx:.1}" x2="{rx:.1}" y1="{t}" y2="{:.1}" stroke="#000" stroke-dasharray="4 3"/><text x="{rx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            t + row_h * series.len() as f64,
            h - 8.0,
            esc(label)
        );
    }
    o.push_str("</svg>");
    o
}
