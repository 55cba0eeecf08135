//! Least connections over the wire, with weights: in-flight requests are compared per unit of
//! weight, counting the request being placed (HAProxy's `leastconn`), so a backend of weight 3
//! holds three times the requests of one of weight 1.

use crate::support::{eventually, patient, Client, TestBackend, TestProxy, WAIT};
use std::collections::HashMap;
use std::time::Duration;

fn config(a: &TestBackend, b: &TestBackend) -> String {
    format!(
        r#"
[server]
threads = 2
grace_period = "0s"
[admin]
address = "{{admin}}"
[listeners.http]
address = "{{http}}"
[routes.all]
pool = "p"
[pools.p]
balance = "least_connections"
backends = [{{ address = "{}", weight = 1 }}, {{ address = "{}", weight = 3 }}]
"#,
        a.addr, b.addr
    )
}

/// In-flight requests per backend name, as the pool counts them.
fn in_flight(proxy: &TestProxy, names: &HashMap<String, &str>) -> HashMap<String, u32> {
    let snapshot = proxy.state.load();
    snapshot.pools[0]
        .backends
        .iter()
        .map(|b| (names[&*b.label].to_string(), b.state.inflight()))
        .collect()
}

async fn tally(c: &Client, proxy: &TestProxy, n: usize) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for _ in 0..n {
        let r = c.get(proxy.http, "any.test", "/").await;
        assert_eq!(r.status, 200);
        *out.entry(r.backend()).or_default() += 1;
    }
    out
}

#[tokio::test]
async fn weights_scale_the_in_flight_counts_compared() {
    let a = TestBackend::start("a").await;
    let b = TestBackend::start("b").await;
    let names: HashMap<String, &str> =
        HashMap::from([(a.addr.to_string(), "a"), (b.addr.to_string(), "b")]);
    let proxy = TestProxy::start(&config(&a, &b)).await;
    let c = Client::new();
    // Eight slow requests, each placed once the one before it is in flight: whatever way the
    // two ties on the way go, weights 1:3 end at 2 on a and 6 on b.
    let hold = patient(Duration::from_secs(60)).as_millis();
    let mut slow = Vec::new();
    for placed in 1..=8u32 {
        let (c, addr) = (c.clone(), proxy.http);
        let path = format!("/delay/{hold}");
        slow.push(tokio::spawn(
            async move { c.get(addr, "any.test", &path).await },
        ));
        eventually("the slow request in flight", WAIT, || async {
            (in_flight(&proxy, &names).values().sum::<u32>() == placed).then_some(())
        })
        .await;
    }
    assert_eq!(
        in_flight(&proxy, &names),
        HashMap::from([("a".into(), 2), ("b".into(), 6)])
    );
    // With them in flight, b (7 per 3 with one more) is lighter than a (3 per 1): quick
    // requests, one at a time, all go to b.
    assert_eq!(tally(&c, &proxy, 6).await, HashMap::from([("b".into(), 6)]));
    for task in &slow {
        task.abort();
    }
    eventually("the slow requests ended", WAIT, || async {
        (in_flight(&proxy, &names).values().sum::<u32>() == 0).then_some(())
    })
    .await;
    // Idle: b (1 per 3) is lighter than a (1 per 1), as HAProxy's leastconn has it.
    assert_eq!(tally(&c, &proxy, 4).await, HashMap::from([("b".into(), 4)]));
}
