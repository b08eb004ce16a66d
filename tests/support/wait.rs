//! Waiting on conditions with a deadline; on time-out, the resource is printed.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::runtime::wait::await_condition;
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Waits until the named object satisfies `cond`, or panics after `timeout` with the object.
pub async fn wait_for<K>(api: &Api<K>, name: &str, timeout: Duration, what: &str, cond: impl Fn(&K) -> bool) -> K
where
    K: Resource + Clone + Debug + Send + DeserializeOwned + Serialize + 'static,
{
    let matched = tokio::time::timeout(
        timeout,
        await_condition(api.clone(), name, move |o: Option<&K>| o.is_some_and(&cond)),
    )
    .await;
    match matched {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{name}: gone while waiting for {what}"),
        Ok(Err(e)) => panic!("{name}: watch failed while waiting for {what}: {e}"),
        Err(_) => {
            let shown = match api.get_opt(name).await {
                Ok(Some(o)) => serde_yaml::to_string(&o).unwrap_or_default(),
                Ok(None) => "(does not exist)".to_owned(),
                Err(e) => format!("(could not read it: {e})"),
            };
            panic!("timed out after {timeout:?} waiting for {name}: {what}\n{shown}");
        }
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with the last `Err` note.
/// For things with no watch (HTTP endpoints): the poll interval is not a wait on its own.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(note) => note,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The events of `ns` with this reason (events about nodes are in `default`).
pub async fn events(client: &Client, ns: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .collect()
}

/// The sum of the operator's metric samples whose line starts with `prefix` (its name and
/// the start of its labels), from its `/metrics`.
pub async fn metric(http: &str, prefix: &str) -> Result<f64, String> {
    let (_, text) = get(&format!("http://{http}/metrics")).await?;
    Ok(sum_of(&text, prefix))
}

/// The sum of the samples of a metrics page whose line starts with `prefix`.
pub fn sum_of(page: &str, prefix: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reconciles the operator serving `http` has completed successfully so far (its own metric).
pub async fn reconciles(http: &str) -> Result<f64, String> {
    metric(http, "nodehealth_reconciles_total{result=\"ok\"}").await
}

/// One GET on loopback, no proxy: the status code and the body as text.
pub async fn get(url: &str) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let r = client.get(url).send().await.map_err(|e| e.to_string())?;
    let code = r.status().as_u16();
    let body = r.text().await.map_err(|e| e.to_string())?;
    Ok((code, body))
}

/// Waits until the operator serving `http` has completed `n` more reconciles than now: what it
/// decided in them is then visible.
pub async fn more_reconciles(http: &str, n: u32) {
    let start = reconciles(http).await.unwrap_or(0.0);
    eventually(
        Duration::from_secs(60),
        &format!("{n} more reconciles"),
        || async move {
            let now = reconciles(http).await?;
            if now >= start + f64::from(n) {
                Ok(())
            } else {
                Err(format!("{} of {n}", now - start))
            }
        },
    )
    .await;
}
