use super::*;

/// The lines of one series in a rendered page.
fn lines_of<'a>(page: &'a str, name: &str, labels: &str) -> Vec<&'a str> {
    page.lines()
        .filter(|l| {
            l.starts_with(name)
                && (l.contains(&format!("{{{labels},")) || l.contains(&format!("{{{labels}}}")))
        })
        .collect()
}

#[test]
fn a_sample_counts_in_the_first_bucket_whose_bound_it_does_not_exceed() {
    let series = series(names::REQUEST_DURATION_SECONDS, &[("pool", "bounds")]);
    series.record(Duration::from_micros(100)); // exactly 0.0001: le="0.0001"
    series.record(Duration::from_micros(101)); // le="0.00025"
    series.record(Duration::from_millis(3)); // le="0.005"
    series.record(Duration::from_secs(31)); // only +Inf
    let mut page = String::new();
    render(&mut page);
    let name = names::REQUEST_DURATION_SECONDS;
    let lines = lines_of(&page, name, r#"pool="bounds""#);
    let value = |le: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!("le=\"{le}\"}}")))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    assert_eq!(value("0.0001").as_deref(), Some("1"), "{page}");
    assert_eq!(value("0.00025").as_deref(), Some("2"));
    assert_eq!(value("0.0025").as_deref(), Some("2"));
    assert_eq!(value("0.005").as_deref(), Some("3"));
    assert_eq!(value("30").as_deref(), Some("3"));
    assert_eq!(value("+Inf").as_deref(), Some("4"));
    assert!(lines.contains(&format!(r#"{name}_count{{pool="bounds"}} 4"#).as_str()));
    assert!(
        lines.contains(&format!(r#"{name}_sum{{pool="bounds"}} 31.003201"#).as_str()),
        "{lines:?}"
    );
    assert_eq!(lines.len(), BUCKETS.len() + 3);
}

#[test]
fn the_same_labels_give_the_same_series_while_one_is_held() {
    let held = series(names::UPSTREAM_TTFB_SECONDS, &[("pool", "carried")]);
    held.record(Duration::from_millis(1));
    // A pool rebuilt by a reload asks again while the old one is alive.
    let rebuilt = series(names::UPSTREAM_TTFB_SECONDS, &[("pool", "carried")]);
    assert!(Arc::ptr_eq(&held, &rebuilt));
    drop((held, rebuilt));
    // Once nothing holds it, the series is gone: a new one starts from zero and is not written
    // until it counts.
    let fresh = series(names::UPSTREAM_TTFB_SECONDS, &[("pool", "carried")]);
    let mut page = String::new();
    render(&mut page);
    assert!(
        lines_of(&page, names::UPSTREAM_TTFB_SECONDS, r#"pool="carried""#).is_empty(),
        "{page}"
    );
    fresh.record(Duration::from_millis(1));
    page.clear();
    render(&mut page);
    let count = format!(
        r#"{}_count{{pool="carried"}} 1"#,
        names::UPSTREAM_TTFB_SECONDS
    );
    assert!(page.lines().any(|l| l == count), "{page}");
}

#[test]
fn a_family_is_written_once_with_help_type_and_escaped_labels() {
    let a = series(
        names::ROUTE_REQUEST_DURATION_SECONDS,
        &[("route", "a\"b"), ("pool", "p")],
    );
    let b = series(
        names::ROUTE_REQUEST_DURATION_SECONDS,
        &[("route", "c"), ("pool", "p")],
    );
    a.record(Duration::from_millis(1));
    b.record(Duration::from_millis(1));
    let mut page = String::new();
    render(&mut page);
    let name = names::ROUTE_REQUEST_DURATION_SECONDS;
    assert_eq!(
        page.matches(&format!("# TYPE {name} histogram\n")).count(),
        1,
        "{page}"
    );
    assert_eq!(page.matches(&format!("# HELP {name} ")).count(), 1);
    assert!(
        page.contains(&format!(r#"{name}_count{{route="a\"b",pool="p"}} 1"#)),
        "{page}"
    );
    // The family's lines are contiguous: from its TYPE line to the blank line that ends it.
    let start = page.find(&format!("# TYPE {name}")).unwrap_or_default();
    let family = &page[start..];
    let family = &family[..family.find("\n\n").unwrap_or(family.len())];
    assert_eq!(
        page.matches(&format!("{name}_count")).count(),
        family.matches(&format!("{name}_count")).count()
    );
}
