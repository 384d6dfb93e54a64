#!/usr/bin/env node
// Checks the manifests the chart rendered (tests/helm/render) for one set of
// values: what a cluster would reject, and what the chart promises
// operators (README.md beside the chart) but Kubernetes would accept silently.
//
//   node check-rendered.js RENDERED.yaml VALUES [OVERLAY...]
//
// Prints one line per check; exits 1 when any fails.
'use strict';

const fs = require('fs');
const YAML = require('yaml');
const { loadValues } = require('./values');

const [renderedPath, valuesPath, ...overlays] = process.argv.slice(2);
if (!renderedPath || !valuesPath) {
  process.stderr.write('usage: node check-rendered.js RENDERED.yaml VALUES [OVERLAY...]\n');
  process.exit(2);
}
const values = loadValues(valuesPath, overlays);
const docs = YAML.parseAllDocuments(fs.readFileSync(renderedPath, 'utf8'), { version: '1.1' });

let failed = 0;
function check(ok, what) {
  if (ok) return;
  failed++;
  process.stdout.write(`  FAIL ${what}\n`);
}
const passed = [];
function summary(what) {
  passed.push(what);
}

const objects = [];
for (const d of docs) {
  if (d.errors.length > 0) {
    check(false, `a rendered document is not YAML: ${d.errors[0].message}`);
    continue;
  }
  const o = d.toJS();
  if (o !== null && o !== undefined) objects.push(o);
}
check(objects.length > 0, 'the chart rendered something');

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const ROLES = ['issuer', 'scan', 'audit'];
// Where the image keeps the HTTP front's assets (the Dockerfile copies them there).
const WEB_ASSETS = '/usr/share/youma/web';
const web = values.web;
// Only the scan pods serve the HTTP front, and only with web.enabled.
const servesWeb = (role) => role === 'scan' && values.scan.enabled && web.enabled;
// The kubelet's gRPC probes speak plaintext only: with TLS every container also
// serves health checks alone, in plaintext, on ports.health (--health-listen),
// and the gRPC probes ask there; without TLS they ask the gRPC port.
const tls = values.tls.enabled;
const probePort = tls ? values.ports.health : values.ports.grpc;
const HEALTH_SERVICE = { issuer: 'youma.v1.IssuerService', scan: 'youma.v1.ScanService', audit: 'youma.v1.AuditService' };
const id = (o) => `${o.kind}/${o.metadata && o.metadata.name}`;
const byKind = (kind) => objects.filter((o) => o.kind === kind);
const matches = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);

// Every object: identity, labels, names Kubernetes accepts.
for (const o of objects) {
  check(typeof o.apiVersion === 'string' && typeof o.kind === 'string', `${id(o)} has apiVersion and kind`);
  check(o.metadata && typeof o.metadata.name === 'string', `${id(o)} has a name`);
  if (!o.metadata) continue;
  const max = o.kind === 'Service' ? 63 : 253;
  check(o.metadata.name.length <= max && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.metadata.name),
        `${id(o)}: the name is valid for a ${o.kind} (at most ${max} characters)`);
  if (o.kind === 'Service') check(DNS1123_LABEL.test(o.metadata.name), `${id(o)}: a Service name is a DNS label`);
  const labels = o.metadata.labels || {};
  check(labels['app.kubernetes.io/instance'] && labels['app.kubernetes.io/managed-by'] === 'Helm',
        `${id(o)} carries the release's labels`);
  for (const [k, v] of Object.entries(labels)) {
    check(typeof v === 'string' && v.length <= 63, `${id(o)}: label ${k} is a string of at most 63 characters`);
  }
}
summary(`${objects.length} objects have valid names and the release's labels`);

// Deployments: one per enabled role, running `youma serve` as promised.
const deployments = byKind('Deployment');
const enabledRoles = ROLES.filter((r) => values[r].enabled);
check(deployments.length === enabledRoles.length,
      `one Deployment per enabled role (${enabledRoles.join(', ')}), got ${deployments.length}`);
for (const role of enabledRoles) {
  const v = values[role];
  const d = deployments.find((x) => x.metadata.labels['app.kubernetes.io/component'] === role);
  check(d, `a Deployment for ${role}`);
  if (!d) continue;
  const spec = d.spec;
  const pod = spec.template.spec;
  check(matches(spec.selector.matchLabels, spec.template.metadata.labels), `${id(d)}: its selector matches its pods`);
  const autoscaled = role === 'scan' && v.autoscaling.enabled;
  check(autoscaled ? spec.replicas === undefined : spec.replicas === v.replicas,
        `${id(d)}: replicas ${autoscaled ? 'left to the HPA' : `= ${v.replicas}`}`);
  check(pod.containers.length === 1, `${id(d)}: one container`);
  const c = pod.containers[0];
  const args = c.args || [];
  const flag = (name) => {
    const a = args.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
    return a === undefined ? undefined : (a.includes('=') ? a.slice(a.indexOf('=') + 1) : true);
  };
  check(args[0] === 'serve', `${id(d)}: runs \`youma serve\``);
  check(flag('services') === role, `${id(d)}: --services=${role}`);
  check(flag('listen') === `0.0.0.0:${values.ports.grpc}`, `${id(d)}: --listen on all addresses, port ${values.ports.grpc}`);
  check(flag('metrics-listen') === `0.0.0.0:${values.ports.metrics}`, `${id(d)}: --metrics-listen port ${values.ports.metrics}`);
  check(flag('no-migrate') === true, `${id(d)}: --no-migrate (the Job migrates)`);
  check(flag('mysql') === values.mysql.url, `${id(d)}: --mysql is mysql.url`);
  const grace = Number(flag('grace-seconds'));
  check(grace === v.graceSeconds, `${id(d)}: --grace-seconds=${v.graceSeconds}`);
  check(pod.terminationGracePeriodSeconds > grace + values.shutdown.preStopSleepSeconds,
        `${id(d)}: terminationGracePeriodSeconds (${pod.terminationGracePeriodSeconds}) > preStop + grace ` +
        `(${values.shutdown.preStopSleepSeconds + grace})`);
  check(flag('tls-cert') !== undefined === values.tls.enabled && flag('tls-key') !== undefined === values.tls.enabled,
        `${id(d)}: --tls-cert and --tls-key ${values.tls.enabled ? 'set' : 'absent'} as tls.enabled says`);
  check(tls ? flag('health-listen') === `0.0.0.0:${values.ports.health}` : flag('health-listen') === undefined,
        `${id(d)}: ${tls ? `--health-listen=0.0.0.0:${values.ports.health} (plaintext health checks for the probes)`
                         : 'no --health-listen (the probes ask the plaintext gRPC port)'}`);
  check(!/^mysql:\/\/[^@]*:/.test(flag('mysql') || ''), `${id(d)}: the MySQL URL carries no password`);
  check(!(c.env || []).some((e) => /PASSWORD|KEY|TOKEN/.test(e.name) && e.value !== undefined),
        `${id(d)}: no secret as a literal environment variable (they come from Secret files)`);

  // Every file a flag names is inside a mounted volume.
  const mounts = c.volumeMounts || [];
  const volumes = pod.volumes || [];
  for (const m of mounts) check(volumes.some((x) => x.name === m.name), `${id(d)}: volume ${m.name} exists`);
  const mountOf = (file) => mounts.find((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`));
  const mysqlTls = values.mysql.tls;
  check((flag('mysql-ca') !== undefined) === !!mysqlTls.caSecret,
        `${id(d)}: --mysql-ca ${mysqlTls.caSecret ? 'set' : 'absent'} as mysql.tls.caSecret says`);
  check((flag('mysql-cert') !== undefined) === !!mysqlTls.clientSecret &&
        (flag('mysql-key') !== undefined) === !!mysqlTls.clientSecret,
        `${id(d)}: --mysql-cert and --mysql-key ${mysqlTls.clientSecret ? 'set' : 'absent'} as mysql.tls.clientSecret says`);
  for (const f of ['mysql-password-file', 'mysql-ca', 'mysql-cert', 'mysql-key', 'master-key-file', 'keyset-dir',
                   'data-dir', 'tls-cert', 'tls-key']) {
    const file = flag(f);
    if (file === undefined) continue;
    const m = mountOf(file);
    check(m, `${id(d)}: --${f}=${file} is on a mounted volume`);
    if (!m) continue;
    const vol = volumes.find((x) => x.name === m.name);
    if (f === 'data-dir') {
      check(vol && vol.emptyDir, `${id(d)}: the data dir is an emptyDir`);
      continue;
    }
    check(vol && vol.secret && m.readOnly === true, `${id(d)}: --${f} comes from a Secret, mounted read-only`);
    check(!m.subPath, `${id(d)}: --${f} is mounted without subPath (so the kubelet updates it)`);
    const rel = file.slice(m.mountPath.length + 1);
    if (vol && vol.secret && vol.secret.items && rel) {
      check(vol.secret.items.some((it) => it.path === rel), `${id(d)}: the Secret volume provides ${rel} for --${f}`);
    }
  }
  check(flag('mysql-password-file') === '/run/secrets/youma/mysql/password', `${id(d)}: the MySQL password file path`);

  // The HTTP front: listening, with the image's assets, only on the scan pods
  // with web.enabled; the scan pods without it turn it off explicitly (the
  // binary's default would listen on 127.0.0.1:8080 with the build tree's assets).
  const webFlags = ['web-assets', 'miniprogram-url', 'region-header', 'trust-forwarded-for', 'secure-cookies'];
  if (servesWeb(role)) {
    check(flag('http-listen') === `0.0.0.0:${web.port}`, `${id(d)}: --http-listen=0.0.0.0:${web.port}`);
    check(flag('web-assets') === WEB_ASSETS, `${id(d)}: --web-assets=${WEB_ASSETS} (the image's assets)`);
    check(flag('miniprogram-url') === web.miniprogramUrl, `${id(d)}: --miniprogram-url is web.miniprogramUrl`);
    check(flag('region-header') === web.regionHeader, `${id(d)}: --region-header=${web.regionHeader}`);
    check((flag('trust-forwarded-for') === true) === web.trustForwardedFor,
          `${id(d)}: --trust-forwarded-for ${web.trustForwardedFor ? 'set' : 'absent'} as web.trustForwardedFor says`);
    check((flag('secure-cookies') === true) === web.secureCookies,
          `${id(d)}: --secure-cookies ${web.secureCookies ? 'set' : 'absent'} as web.secureCookies says`);
  } else {
    check(role === 'scan' ? flag('http-listen') === '' : flag('http-listen') === undefined,
          `${id(d)}: ${role === 'scan' ? '--http-listen= turns the HTTP front off (web.enabled is false)'
                                        : 'no --http-listen (only the scan role serves the HTTP front)'}`);
    for (const f of webFlags) check(flag(f) === undefined, `${id(d)}: no --${f} without the HTTP front`);
  }
  const tmp = mountOf('/tmp/x');
  check(tmp && volumes.find((x) => x.name === tmp.name).emptyDir, `${id(d)}: /tmp is an emptyDir`);
  const secretNames = volumes.filter((x) => x.secret).map((x) => x.secret.secretName);
  for (const want of [values.mysql.passwordSecret.name, values.masterKey.secretName, values.keysets.secretName]
    .concat(values.tls.enabled ? [values.tls.secretName] : [])) {
    check(secretNames.includes(want), `${id(d)}: mounts the Secret ${want}`);
  }

  // Security.
  const psc = pod.securityContext || {};
  const csc = c.securityContext || {};
  check(psc.runAsNonRoot === true && csc.runAsNonRoot === true, `${id(d)}: runAsNonRoot`);
  check(psc.runAsUser > 0, `${id(d)}: runs as a non-zero uid`);
  check(csc.readOnlyRootFilesystem === true, `${id(d)}: readOnlyRootFilesystem`);
  check(csc.allowPrivilegeEscalation === false, `${id(d)}: no privilege escalation`);
  check(JSON.stringify(csc.capabilities) === JSON.stringify({ drop: ['ALL'] }), `${id(d)}: drops ALL capabilities`);
  check(psc.seccompProfile && psc.seccompProfile.type === 'RuntimeDefault' &&
        csc.seccompProfile && csc.seccompProfile.type === 'RuntimeDefault', `${id(d)}: seccomp RuntimeDefault`);
  check(pod.automountServiceAccountToken === false || values.automountServiceAccountToken,
        `${id(d)}: no Kubernetes API token unless asked for`);

  // Resources.
  const r = c.resources || {};
  for (const k of ['cpu', 'memory']) {
    check(r.requests && r.requests[k] !== undefined && r.limits && r.limits[k] !== undefined,
          `${id(d)}: requests and limits for ${k}`);
  }

  // Ports and probes.
  const port = (name) => (c.ports || []).find((p) => p.name === name);
  check(port('grpc') && port('grpc').containerPort === values.ports.grpc, `${id(d)}: container port grpc`);
  check(port('metrics') && port('metrics').containerPort === values.ports.metrics, `${id(d)}: container port metrics`);
  check(servesWeb(role) ? port('http') && port('http').containerPort === web.port : !port('http'),
        `${id(d)}: ${servesWeb(role) ? `container port http = web.port (${web.port})` : 'no http container port'}`);
  check(tls ? port('health') && port('health').containerPort === values.ports.health && port('health').protocol === 'TCP'
            : !port('health'),
        `${id(d)}: ${tls ? `container port health = ports.health (${values.ports.health})` : 'no health container port'}`);
  const ports = (c.ports || []).map((x) => x.containerPort);
  check(new Set(ports).size === ports.length, `${id(d)}: container ports differ (${ports.join(', ')})`);
  for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const probe = c[p];
    check(probe, `${id(d)}: has a ${p}`);
    if (!probe) continue;
    if (p === 'readinessProbe' && servesWeb(role)) {
      const g = probe.httpGet;
      check(g && g.path === '/healthz' && (g.port === 'http' || g.port === web.port) && (g.scheme || 'HTTP') === 'HTTP' &&
            !probe.grpc && !probe.tcpSocket, `${id(d)}: readiness is GET /healthz on the HTTP front`);
      continue;
    }
    check(probe.grpc && probe.grpc.port === probePort && !probe.tcpSocket && !probe.httpGet && !probe.exec,
          `${id(d)}: ${p} is a native gRPC probe on ${tls ? `the plaintext health port ${probePort}` : `the gRPC port ${probePort}`}`);
    if (!probe.grpc) continue;
    if (p === 'readinessProbe') {
      check(probe.grpc.service === HEALTH_SERVICE[role], `${id(d)}: readiness asks for ${HEALTH_SERVICE[role]}`);
    } else {
      check(!probe.grpc.service, `${id(d)}: ${p} asks for the whole server (service "")`);
    }
  }
  if (values.shutdown.preStopSleepSeconds > 0) {
    const cmd = c.lifecycle && c.lifecycle.preStop && c.lifecycle.preStop.exec && c.lifecycle.preStop.exec.command;
    check(cmd && cmd[0] === '/bin/sleep' && Number(cmd[1]) === values.shutdown.preStopSleepSeconds,
          `${id(d)}: preStop sleeps ${values.shutdown.preStopSleepSeconds} s`);
  }
  check(pod.serviceAccountName, `${id(d)}: names its ServiceAccount`);
  if (values.serviceAccount.create) {
    check(byKind('ServiceAccount').some((s) => s.metadata.name === pod.serviceAccountName &&
                                              !(s.metadata.annotations || {})['helm.sh/hook']),
          `${id(d)}: its ServiceAccount is part of the release`);
  }
}
summary(`${deployments.length} Deployments run \`youma serve\` with the promised flags, mounts, security, resources and probes`);

// Services route to pods and to named container ports.
const podsOf = (selector) => deployments.filter((d) => matches(selector, d.spec.template.metadata.labels));
for (const s of byKind('Service')) {
  const targets = podsOf(s.spec.selector);
  check(targets.length === 1, `${id(s)} selects exactly one role's pods`);
  for (const p of s.spec.ports) {
    check(targets.every((d) => d.spec.template.spec.containers[0].ports.some((cp) => cp.name === p.targetPort)),
          `${id(s)}: targetPort ${p.targetPort} is a container port`);
  }
}
check(byKind('Service').filter((s) => s.spec.clusterIP !== 'None').length === enabledRoles.length,
      'one ClusterIP Service per enabled role');
for (const s of byKind('Service')) {
  const role = s.metadata.labels['app.kubernetes.io/component'];
  const http = s.spec.ports.find((p) => p.name === 'http');
  const want = servesWeb(role) && s.spec.clusterIP !== 'None';
  check(want ? http && http.port === web.port && http.targetPort === 'http' && http.protocol === 'TCP' : !http,
        `${id(s)}: ${want ? `port http ${web.port} to the container port http` : 'no http port'}`);
}
for (const s of byKind('Service')) {
  check(!s.spec.ports.some((p) => p.targetPort === 'health' || p.port === values.ports.health ||
                                  p.targetPort === values.ports.health),
        `${id(s)}: no port to the probes' health port`);
}
summary(`${byKind('Service').length} Services select their role's pods by named ports`);

// PodDisruptionBudgets and the HPA point at existing pods.
for (const p of byKind('PodDisruptionBudget')) {
  check(podsOf(p.spec.selector.matchLabels).length === 1, `${id(p)} selects one role's pods`);
  check((p.spec.minAvailable === undefined) !== (p.spec.maxUnavailable === undefined),
        `${id(p)} sets exactly one of minAvailable and maxUnavailable`);
}
const hpas = byKind('HorizontalPodAutoscaler');
const wantHpa = values.scan.enabled && values.scan.autoscaling.enabled;
check(hpas.length === (wantHpa ? 1 : 0), `an HPA exactly when scan.autoscaling.enabled (${wantHpa})`);
for (const h of hpas) {
  check(h.apiVersion === 'autoscaling/v2', `${id(h)} is autoscaling/v2`);
  check(deployments.some((d) => d.metadata.name === h.spec.scaleTargetRef.name &&
                                d.metadata.labels['app.kubernetes.io/component'] === 'scan'),
        `${id(h)} scales the scan Deployment`);
  check(h.spec.minReplicas <= h.spec.maxReplicas, `${id(h)}: minReplicas <= maxReplicas`);
}
summary(`${byKind('PodDisruptionBudget').length} PodDisruptionBudgets and ${hpas.length} HPA select existing pods`);

// The Ingress: the configured hosts, every path to the scan Service's http port.
const ingresses = byKind('Ingress');
const ing = values.ingress;
check(ingresses.length === (ing.enabled ? 1 : 0), `an Ingress exactly when ingress.enabled (${ing.enabled})`);
// JSON with object keys sorted: toYaml sorts the keys of maps it writes.
const canon = (v) => JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
const sameSet = (a, b) => a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');
for (const i of ingresses) {
  check(i.apiVersion === 'networking.k8s.io/v1', `${id(i)} is networking.k8s.io/v1`);
  check((i.spec.ingressClassName || '') === (ing.className || ''), `${id(i)}: ingressClassName is ingress.className`);
  check(canon(i.metadata.annotations || {}) === canon(ing.annotations || {}),
        `${id(i)}: annotations are ingress.annotations`);
  const rules = i.spec.rules || [];
  const hosts = rules.map((r) => r.host);
  check(hosts.length > 0 && sameSet(hosts, ing.hosts || []), `${id(i)}: one rule per host of ingress.hosts`);
  for (const r of rules) {
    const paths = (r.http && r.http.paths) || [];
    check(paths.length === 1 && paths[0].path === '/' && paths[0].pathType === 'Prefix',
          `${id(i)}: ${r.host} routes every path (/ Prefix)`);
    for (const p of paths) {
      const b = p.backend && p.backend.service;
      const svc = b && byKind('Service').find((s) => s.metadata.name === b.name && s.spec.clusterIP !== 'None');
      check(svc && svc.metadata.labels['app.kubernetes.io/component'] === 'scan',
            `${id(i)}: ${r.host} goes to the scan Service (${b && b.name})`);
      if (!svc) continue;
      const sp = svc.spec.ports.find((x) => (b.port.name !== undefined ? x.name === b.port.name : x.port === b.port.number));
      check(sp && sp.name === 'http' && sp.port === web.port,
            `${id(i)}: ${r.host} goes to the Service's http port (${web.port})`);
    }
  }
  const tls = i.spec.tls || [];
  check(JSON.stringify(tls.map((t) => [t.secretName, t.hosts])) ===
        JSON.stringify((ing.tls || []).map((t) => [t.secretName, t.hosts])), `${id(i)}: tls is ingress.tls`);
  for (const t of tls) {
    for (const h of t.hosts || []) check(hosts.includes(h), `${id(i)}: the TLS host ${h} has a rule`);
  }
}
summary(`${ingresses.length} Ingress to the scan Service's http port` +
        (ingresses.length ? ` for ${(ing.hosts || []).length} hosts, ${(ing.tls || []).length} TLS Secrets` : ''));

// The migration Job: a hook, before install and upgrade, running `youma migrate`.
const jobs = byKind('Job');
check(jobs.length === (values.migrations.enabled ? 1 : 0), 'a migration Job exactly when migrations.enabled');
for (const j of jobs) {
  const a = j.metadata.annotations || {};
  check(a['helm.sh/hook'] === 'pre-install,pre-upgrade', `${id(j)} is a pre-install,pre-upgrade hook`);
  check(a['helm.sh/hook-delete-policy'] === 'before-hook-creation,hook-succeeded',
        `${id(j)}: hook-delete-policy before-hook-creation,hook-succeeded`);
  const pod = j.spec.template.spec;
  const c = pod.containers[0];
  check(c.args[0] === 'migrate' && c.args.includes(`--mysql=${values.mysql.url}`) &&
        c.args.includes('--mysql-password-file=/run/secrets/youma/mysql/password'),
        `${id(j)} runs \`youma migrate\` against mysql.url with the password file`);
  {
    const mysqlTls = values.mysql.tls;
    const ca = c.args.find((a) => a.startsWith('--mysql-ca='));
    const cert = c.args.find((a) => a.startsWith('--mysql-cert='));
    const key = c.args.find((a) => a.startsWith('--mysql-key='));
    check((ca !== undefined) === !!mysqlTls.caSecret && (cert !== undefined) === !!mysqlTls.clientSecret &&
          (key !== undefined) === !!mysqlTls.clientSecret,
          `${id(j)}: the MySQL TLS flags as mysql.tls says`);
    for (const a of [ca, cert, key]) {
      if (a === undefined) continue;
      const file = a.slice(a.indexOf('=') + 1);
      const m = (c.volumeMounts || []).find((x) => file.startsWith(`${x.mountPath}/`));
      const vol = m && (pod.volumes || []).find((x) => x.name === m.name);
      check(vol && vol.secret && m.readOnly === true &&
            vol.secret.items.some((it) => it.path === file.slice(m.mountPath.length + 1)),
            `${id(j)}: ${file} comes from a Secret volume, mounted read-only`);
    }
  }
  check(pod.restartPolicy === 'Never', `${id(j)}: restartPolicy Never`);
  check(c.securityContext.readOnlyRootFilesystem === true && pod.securityContext.runAsNonRoot === true,
        `${id(j)}: the same security context as the servers`);
  // What the Job needs must exist before it: hooks with a lower weight, or
  // something that is not the chart's.
  const weight = (o) => Number((o.metadata.annotations || {})['helm.sh/hook-weight'] || 0);
  if (values.serviceAccount.create) {
    const sa = byKind('ServiceAccount').find((s) => s.metadata.name === pod.serviceAccountName);
    check(sa && (sa.metadata.annotations || {})['helm.sh/hook'] === a['helm.sh/hook'] && weight(sa) < weight(j),
          `${id(j)}: its ServiceAccount is a hook created before it`);
  }
  if (values.networkPolicy.enabled) {
    const np = byKind('NetworkPolicy').find((n) => matches(n.spec.podSelector.matchLabels, j.spec.template.metadata.labels));
    check(np && (np.metadata.annotations || {})['helm.sh/hook'] === a['helm.sh/hook'] && weight(np) < weight(j),
          `${id(j)}: its NetworkPolicy is a hook created before it`);
  }
}
summary(`${jobs.length} migration Job as a helm hook`);

// NetworkPolicies: every youma pod is covered, DNS and MySQL are open.
const nps = byKind('NetworkPolicy');
const mysqlPort = Number((values.mysql.url.match(/:([0-9]+)\//) || [])[1]);
if (values.networkPolicy.enabled) {
  for (const d of deployments) {
    const np = nps.find((n) => matches(n.spec.podSelector.matchLabels, d.spec.template.metadata.labels) &&
                               !(n.metadata.annotations || {})['helm.sh/hook']);
    check(np, `${id(d)} is covered by a NetworkPolicy`);
  }
  for (const n of nps) {
    check(JSON.stringify(n.spec.policyTypes) === JSON.stringify(['Ingress', 'Egress']), `${id(n)}: Ingress and Egress`);
    const egressPorts = (n.spec.egress || []).flatMap((e) => (e.ports || []).map((p) => `${p.protocol}/${p.port}`));
    check(egressPorts.includes(`TCP/${mysqlPort}`), `${id(n)}: egress to MySQL on TCP ${mysqlPort}`);
    if (values.networkPolicy.dns.enabled) {
      check(egressPorts.includes('UDP/53') && egressPorts.includes('TCP/53'), `${id(n)}: egress to DNS`);
    }
    const ingressPorts = (n.spec.ingress || []).flatMap((e) => (e.ports || []).map((p) => p.port));
    const role = n.spec.podSelector.matchLabels['app.kubernetes.io/component'];
    const http = servesWeb(role) && !(n.metadata.annotations || {})['helm.sh/hook'];
    check(ingressPorts.every((p) => p === values.ports.grpc || p === values.ports.metrics || (http && p === web.port)),
          `${id(n)}: ingress only to the gRPC and metrics ports${http ? ' and the HTTP front' : ''}`);
    // The kubelet probes from the pod's own node, which NetworkPolicies always
    // let in (as for the gRPC port's probes without TLS): the plaintext health
    // port needs, and gets, no rule. No rule without ports either, which would
    // open every port, the health port included, to its peers.
    check((n.spec.ingress || []).every((e) => (e.ports || []).length > 0 && !e.ports.some((p) => p.port === 'health')),
          `${id(n)}: every ingress rule names its ports (none opens every port)`);
    if (tls) {
      check(!ingressPorts.includes(values.ports.health), `${id(n)}: the health port (${values.ports.health}) is open to no peer`);
    }
    if (http) {
      const peers = values.networkPolicy.httpFrom || [];
      const rules = (n.spec.ingress || []).filter((e) => (e.ports || []).some((p) => p.port === web.port));
      if (peers.length > 0) {
        check(rules.length === 1 && canon(rules[0].from) === canon(peers) &&
              rules[0].ports.length === 1 && rules[0].ports[0].protocol === 'TCP',
              `${id(n)}: the HTTP front (TCP ${web.port}) is open to networkPolicy.httpFrom`);
      } else {
        check(rules.length === 0, `${id(n)}: the HTTP front is closed (networkPolicy.httpFrom is empty)`);
      }
    }
  }
} else {
  check(nps.length === 0, 'no NetworkPolicy when networkPolicy.enabled is false');
}
summary(`${nps.length} NetworkPolicies cover every pod, open DNS and MySQL (TCP ${mysqlPort})`);

// ServiceMonitor: scrapes Services that have a metrics port, once each.
const sms = byKind('ServiceMonitor');
check(sms.length === (values.metrics.serviceMonitor.enabled ? 1 : 0), 'a ServiceMonitor exactly when enabled');
for (const sm of sms) {
  check(sm.apiVersion === 'monitoring.coreos.com/v1', `${id(sm)} is monitoring.coreos.com/v1`);
  const scraped = byKind('Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels) &&
                                                  s.spec.ports.some((p) => p.name === 'metrics'));
  check(scraped.length === enabledRoles.length, `${id(sm)} scrapes one Service per role (${scraped.length})`);
}
summary(`${sms.length} ServiceMonitor`);

for (const p of passed) process.stdout.write(`  ok: ${p}\n`);
if (failed > 0) {
  process.stdout.write(`  ${failed} check(s) failed\n`);
  process.exit(1);
}
