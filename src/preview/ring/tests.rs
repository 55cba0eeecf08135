use super::*;

static NO_FIELDS: std::sync::LazyLock<http::HeaderMap> =
    std::sync::LazyLock::new(http::HeaderMap::new);
static NO_HEADERS: std::sync::LazyLock<SampledHeaders> =
    std::sync::LazyLock::new(SampledHeaders::default);

fn fact(path: &str) -> Fact<'_> {
    Fact {
        listener: 1,
        tls: true,
        client_cert: false,
        client: Some([10, 0, 0, 1].into()),
        method: "GET",
        host: "www.example.test",
        path,
        query: None,
        fields: &*NO_FIELDS,
        headers: &NO_HEADERS,
    }
}

fn fields(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, value.parse().unwrap());
    }
    map
}

#[test]
fn keeps_the_sampled_headers_and_never_a_secret_one() {
    let ring = SampleRing::with_capacity(2);
    let set = SampledHeaders::from_names([
        "X-Tenant",
        "authorization",
        "cookie",
        "proxy-authorization",
        "set-cookie",
        "x-canary",
    ]);
    let names: Vec<&str> = set.names().iter().map(|n| &**n).collect();
    assert_eq!(names, ["x-canary", "x-tenant"]);
    let sent = fields(&[
        ("authorization", "Bearer s3cr3t-token"),
        ("cookie", "session=s3cr3t-cookie"),
        ("proxy-authorization", "Basic s3cr3t-proxy"),
        ("x-tenant", "blue"),
        ("x-tenant", "green"),
        ("x-other", "not-routed-on"),
    ]);
    ring.record(&Fact {
        query: Some("a=1&b=2"),
        fields: &sent,
        headers: &set,
        ..fact("/p")
    });
    let sample = &ring.samples()[0];
    assert_eq!(sample.query.as_deref(), Some("a=1&b=2"));
    let header = |name: &str, value: Option<&str>| SampledHeader {
        name: name.into(),
        value: value.map(str::to_string),
    };
    assert_eq!(
        sample.headers,
        [
            header("x-canary", None),
            header("x-tenant", Some("blue")),
            header("x-tenant", Some("green")),
        ]
    );
    assert!(sample.looked_for("x-canary") && !sample.looked_for("authorization"));
    let shown = format!("{sample:?}") + &serde_json::to_string(sample).unwrap();
    for secret in ["s3cr3t", "not-routed-on"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    // The slot is reused: a request without query or sampled headers leaves none behind.
    ring.record(&fact("/q"));
    ring.record(&fact("/r"));
    assert!(ring
        .samples()
        .iter()
        .all(|s| s.query.is_none() && s.headers.is_empty()));
}

#[test]
fn a_value_over_the_budget_leaves_its_name_unsampled() {
    let ring = SampleRing::with_capacity(1);
    let set = SampledHeaders::from_names(["x-big", "x-small"]);
    let big = "v".repeat(HEADERS_MAX);
    let sent = fields(&[("x-big", big.as_str()), ("x-small", "1")]);
    ring.record(&Fact {
        fields: &sent,
        headers: &set,
        ..fact("/")
    });
    let sample = &ring.samples()[0];
    assert!(!sample.looked_for("x-big"));
    assert!(sample.looked_for("x-small"));
}

#[test]
fn a_long_query_is_cut_after_a_whole_parameter() {
    let long = format!("a=1&b={}&c=3", "x".repeat(QUERY_MAX));
    assert_eq!(cut_query(&long, QUERY_MAX), ("a=1", true));
    assert_eq!(cut_query("a=1&b=2", QUERY_MAX), ("a=1&b=2", false));
    let ring = SampleRing::with_capacity(1);
    ring.record(&Fact {
        query: Some(&long),
        ..fact("/")
    });
    let sample = &ring.samples()[0];
    assert_eq!(
        (sample.query.as_deref(), sample.query_cut),
        (Some("a=1"), true)
    );
}

#[test]
fn keeps_the_newest_in_order() {
    let ring = SampleRing::with_capacity(3);
    for p in ["/a", "/b", "/c", "/d"] {
        ring.record(&fact(p));
    }
    let paths: Vec<String> = ring.samples().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/b", "/c", "/d"]);
    let s = &ring.samples()[0];
    assert_eq!(s.listener, 1);
    assert!(s.tls);
    assert_eq!(s.host, "www.example.test");
    assert_eq!(s.method, "GET");
}

#[test]
fn cuts_long_values_at_a_character_boundary() {
    let ring = SampleRing::with_capacity(1);
    let long = format!("/{}", "é".repeat(200));
    ring.record(&fact(&long));
    let path = &ring.samples()[0].path;
    assert!(path.len() <= PATH_MAX && long.starts_with(path.as_str()));
}

#[test]
fn a_slot_stays_small() {
    // 5,000 of them are allocated at start: about 3.5 MB with the query and headers.
    let size = std::mem::size_of::<Mutex<Slot>>();
    assert!(size <= 720, "{size} bytes per slot");
}

#[test]
fn clear_empties_it() {
    let ring = SampleRing::with_capacity(4);
    ring.record(&fact("/a"));
    ring.clear();
    assert!(ring.samples().is_empty());
}
