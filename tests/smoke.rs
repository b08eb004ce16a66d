//! The ground every other test stands on: a real API server that serves custom resources
//! (watch, server-side apply, status subresource), and a simulated validator fleet behind
//! pods that a simulated kubelet runs, evicts and recreates.

mod support;

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use support::cluster::with_temp_ns;
use support::wait::wait_for;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn custom_resource_is_served_watched_and_its_status_patched() {
    with_temp_ns("smoke-crd", |client, ns| async move {
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "smokes.smoke.nodehealth.io"},
            "spec": {
                "group": "smoke.nodehealth.io", "scope": "Namespaced",
                "names": {"plural": "smokes", "singular": "smoke", "kind": "Smoke"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]
            }
        });
        // Server-side apply: idempotent when parallel test processes apply it too.
        crds.patch("smokes.smoke.nodehealth.io", &PatchParams::apply("nodehealth-test").force(), &Patch::Apply(&crd))
            .await
            .expect("apply CRD");
        wait_for(&crds, "smokes.smoke.nodehealth.io", WAIT, "CRD Established", |c| {
            c.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
                cs.iter().any(|c| c.type_ == "Established" && c.status == "True")
            })
        })
        .await;

        let gvk = GroupVersionKind::gvk("smoke.nodehealth.io", "v1", "Smoke");
        let ar = ApiResource::from_gvk_with_plural(&gvk, "smokes");
        let smokes: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
        let mut obj = DynamicObject::new("first", &ar);
        obj.data = json!({"spec": {"size": 3}});
        // The watch starts before the object exists, so it must see the creation and the status.
        let mut events = watcher(smokes.clone(), watcher::Config::default()).boxed();
        smokes.create(&PostParams::default(), &obj).await.expect("create custom resource");
        let status = json!({"apiVersion": "smoke.nodehealth.io/v1", "kind": "Smoke", "status": {"phase": "Probed"}});
        smokes
            .patch_status("first", &PatchParams::apply("nodehealth-test"), &Patch::Apply(&status))
            .await
            .expect("server-side apply of status");
        let seen = tokio::time::timeout(WAIT, async {
            while let Some(ev) = events.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = ev {
                    if o.data["status"]["phase"] == "Probed" {
                        return Some(o);
                    }
                }
            }
            None
        })
        .await
        .expect("the watch saw the status within 30 s")
        .expect("watch stream ended");
        assert_eq!(seen.data["spec"]["size"], 3, "spec untouched by the status write");
        let managers: Vec<_> =
            seen.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
        assert!(managers.iter().any(|m| m == "nodehealth-test"), "status written by our field manager: {managers:?}");
    })
    .await;
}
