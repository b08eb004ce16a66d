//! Schema adjustments the derived schemas need to read as user documentation and to be accepted
//! by every API server we support.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use schemars::{Schema, SchemaGenerator, json_schema};

/// Drops `nullable` from every field. The operator never writes a `null` (absent fields are left
/// out), and the API server prunes a `null` a user writes into a field that is not nullable, so
/// nothing changes for objects; but the 1.20 API server publishes a schema with nullable fields
/// to OpenAPI v2 without their types (`kubectl explain` showed `path <>`), and the whole status
/// without any field.
pub fn not_nullable(s: &mut JSONSchemaProps) {
    s.nullable = None;
    for p in s.properties.iter_mut().flat_map(|p| p.values_mut()) {
        not_nullable(p);
    }
    match s.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(i)) => not_nullable(i),
        Some(JSONSchemaPropsOrArray::Schemas(is)) => is.iter_mut().for_each(not_nullable),
        None => {}
    }
    for group in [&mut s.any_of, &mut s.one_of, &mut s.all_of] {
        group.iter_mut().flatten().for_each(not_nullable);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = s.additional_properties.as_mut() {
        not_nullable(extra);
    }
}

/// Status is written by the operator alone: defaults there serve nobody, and the 1.20 API
/// server rejects a status schema whose string field defaults to `""`.
pub fn no_defaults(schema: &mut Schema) {
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for prop in props.values_mut() {
            if let Some(obj) = prop.as_object_mut() {
                obj.remove("default");
            }
        }
    }
}

/// A timestamp (`metav1.Time`) without the Go package's documentation of the type, which
/// `kubectl explain` would otherwise show instead of the field's own.
pub fn time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "date-time"})
}

/// A list of timestamps, as [`time`].
pub fn times(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "array", "items": {"type": "string", "format": "date-time"}})
}
