-- Argo CD health check for ftpoperator.io/FTPServer (Argo CD has no built-in rule for custom resources).
-- Install: copy this script into the argocd-cm ConfigMap under the key
--   resource.customizations.health.ftpoperator.io_FTPServer
-- Healthy: Ready=True for the current generation. Degraded: Stalled=True, or Ready=False with a reason that waits
-- for a person (no free ports, a name clash, a missing Secret), for the current generation; Stalled also covers the
-- pod's failures (ImagePullBackOff, CrashLoopBackOff, unschedulable for minutes). Progressing: everything else.
local hs = { status = "Progressing", message = "Waiting for the operator to reconcile" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
local ready = nil
local stalled = nil
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then
    ready = c
  end
  if c.type == "Stalled" and c.status == "True" then
    stalled = c
  end
end
if stalled ~= nil and (generation == nil or stalled.observedGeneration == generation) then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end
if ready == nil then
  return hs
end
local current = generation == nil or ready.observedGeneration == generation
local degraded = {
  PoolExhausted = true, RangeUnavailable = true, NodePortConflict = true,
  NotOwned = true, SecretMissing = true, ApplyFailed = true,
}
if current and ready.status == "False" and degraded[ready.reason] then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. (ready.message or "")
  return hs
end
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
end
hs.message = ready.message or ""
return hs
