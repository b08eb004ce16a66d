-- Argo CD health check of nodehealth.io/NodeHealth.
--
-- The resource's health is whether the operator enforces the policy, not whether the validators
-- are healthy: Ready=True is Healthy even while the Healthy condition is False (that is the
-- fleet's health, reported in the message), so a validator incident does not turn the
-- application Degraded or block a sync wave.
--   Stalled=True                          -> Degraded (the spec cannot be enforced)
--   Ready=False                           -> Degraded
--   no status yet, Reconciling=True, or
--   status.observedGeneration < generation -> Progressing
--   Healthy=Unknown (NoPodsSelected)      -> Degraded (the selector matches nothing: a mistake)
--   annotation nodehealth.io/paused=true  -> Suspended (remediation paused by a person)
--   Ready=True                            -> Healthy
local hs = { status = "Progressing", message = "Waiting for the operator to report a status" }

local function find(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

if obj.status == nil then
  return hs
end

local conditions = obj.status.conditions
local stalled = find(conditions, "Stalled")
local ready = find(conditions, "Ready")
local reconciling = find(conditions, "Reconciling")
local healthy = find(conditions, "Healthy")

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, "The policy cannot be enforced")
  return hs
end

if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = text(ready, "Not ready")
  return hs
end

local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local observed = obj.status.observedGeneration
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = text(reconciling, "Reconciling")
  return hs
end
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if healthy ~= nil and healthy.reason == "NoPodsSelected" then
  hs.status = "Degraded"
  hs.message = text(healthy, "The selector matches no pod")
  return hs
end

local annotations = obj.metadata ~= nil and obj.metadata.annotations or nil
if annotations ~= nil and annotations["nodehealth.io/paused"] == "true" then
  hs.status = "Suspended"
  hs.message = "Remediation paused (nodehealth.io/paused)"
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  local fleet = obj.status.ready
  if healthy ~= nil and healthy.status == "False" then
    hs.message = "Policy enforced; validators unhealthy: " .. text(healthy, "see status.pods")
  elseif fleet ~= nil then
    hs.message = "Policy enforced; " .. fleet .. " validators healthy"
  else
    hs.message = text(ready, "Policy enforced")
  end
  return hs
end

return hs
