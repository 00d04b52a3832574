#!/usr/bin/env node
'use strict';
/*
 * Drive one ONVIF camera with an independent client (agsh/onvif, npm "onvif") and print
 * one JSON object with everything it got. Used by tests/simulator/test_onvif_interop_node.py
 * to show the simulated cameras interoperate with a client that is neither ours nor zeep.
 *
 * Usage: node onvif_probe.js --url http://HOST:PORT/onvif/device_service --user USER
 *            [--ptz] [--events] [--want-topic SUFFIX] [--timeout-ms N]
 *            [--snapshot-timeout-ms N] [--preserve-address]
 * --want-topic: keep pulling until an event whose topic ends so arrives (15 s at most).
 * --loop-events N: then run the lib's own event loop (cam.on('event'): subscribe, pull,
 * renew, pull ...) until N events of the wanted topic arrived; it prints "probe: listening"
 * and "probe: event K" after each, so a test can publish the next one.
 * --preserve-address: the lib's option for cameras behind NAT or advertising a wrong port
 * (service XAddrs are reached at the device URL's host and port); snapshot URIs are
 * rewritten the same way, as an integrator configures such a camera.
 * The password comes from $ONVIF_PASSWORD (or --password; env keeps it out of `ps`). It is
 * never printed. Progress lines go to stderr; "probe: subscribed" tells a test driving the
 * camera that a PullPoint subscription exists and an event may be published now.
 */

const http = require('http');
const { Cam } = require('onvif');
const { getDigestHeaders } = require('onvif/lib/utils');

// Per-request timeout of the client (ms); the simulator answers in milliseconds.
const DEFAULT_TIMEOUT_MS = 10000;
// Largest snapshot read; a camera's JPEG is well below (1280 px wide at most).
const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;
// How long and how often to poll PTZ status while a move settles.
const SETTLE_MS = 8000;
const POLL_MS = 100;
// Continuous move duration before Stop: long enough for the position to change visibly.
const CONTINUOUS_MS = 600;
// Longest time to keep pulling for a wanted event topic.
const PULL_DEADLINE_MS = 15000;
// Position tolerance when comparing a reached position with its target.
const POSITION_EPS = 0.02;

function parseArgs(argv) {
	const args = { ptz: false, events: false, timeoutMs: DEFAULT_TIMEOUT_MS,
		preserveAddress: false, wantTopic: null, snapshotTimeoutMs: null, loopEvents: 0 };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--url') { args.url = argv[++i]; }
		else if (a === '--user') { args.user = argv[++i]; }
		else if (a === '--password') { args.password = argv[++i]; }
		else if (a === '--ptz') { args.ptz = true; }
		else if (a === '--events') { args.events = true; }
		else if (a === '--timeout-ms') { args.timeoutMs = Number(argv[++i]); }
		else if (a === '--want-topic') { args.wantTopic = argv[++i]; }
		else if (a === '--snapshot-timeout-ms') { args.snapshotTimeoutMs = Number(argv[++i]); }
		else if (a === '--preserve-address') { args.preserveAddress = true; }
		else if (a === '--loop-events') { args.loopEvents = Number(argv[++i]); }
		else { throw new Error('unknown argument ' + a); }
	}
	args.url = args.url || process.env.ONVIF_URL;
	args.user = args.user || process.env.ONVIF_USER;
	if (args.password === undefined) { args.password = process.env.ONVIF_PASSWORD; }
	if (!args.url || !args.user || args.password === undefined) {
		throw new Error('need --url, --user and $ONVIF_PASSWORD');
	}
	return args;
}

function progress(msg) {
	process.stderr.write('probe: ' + msg + '\n');
}

// Promisify a Cam method with a (..., callback(err, result, xml)) signature.
function call(cam, method, ...args) {
	return new Promise((resolve, reject) => {
		cam[method](...args, function(err, result) {
			if (err) { reject(err); } else { resolve(result); }
		});
	});
}

function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// Error text without anything that could carry a credential (messages are the lib's).
function errText(err) {
	return String(err && err.message ? err.message : err);
}

// Record the outcome of one step; a failed step is an error entry, not an abort.
async function step(out, name, fn) {
	try {
		return await fn();
	} catch (err) {
		out.errors.push({ step: name, error: errText(err) });
		return undefined;
	}
}

// GET a URL with the camera's HTTP auth: Digest through the lib's own implementation
// (Cam#digestAuth), Basic when only Basic is offered.
function httpGet(cam, target, timeoutMs, authorization) {
	return new Promise((resolve, reject) => {
		const u = new URL(target);
		const path = u.pathname + u.search;
		const headers = authorization ? { Authorization: authorization } : {};
		const req = http.get({ hostname: u.hostname, port: u.port, path, headers }, (res) => {
			if (res.statusCode === 401 && !authorization) {
				res.resume();
				const digest = getDigestHeaders(res.rawHeaders);
				let auth;
				if (digest.length) {
					auth = cam.digestAuth(digest, { method: 'GET', path });
				} else {
					auth = 'Basic ' + Buffer.from(cam.username + ':' + cam.password).toString('base64');
				}
				httpGet(cam, target, timeoutMs, auth).then(resolve, reject);
				return;
			}
			const chunks = [];
			let size = 0;
			res.on('data', (c) => {
				size += c.length;
				if (size > MAX_SNAPSHOT_BYTES) { req.destroy(new Error('snapshot too large')); return; }
				chunks.push(c);
			});
			res.on('end', () => resolve({
				status: res.statusCode,
				contentType: res.headers['content-type'] || null,
				body: Buffer.concat(chunks),
			}));
			res.on('error', reject);
		});
		req.setTimeout(timeoutMs, () => req.destroy(new Error('snapshot timeout')));
		req.on('error', reject);
	});
}

// Width and height from a JPEG's start-of-frame segment (baseline or progressive).
function jpegSize(buf) {
	let i = 2;
	while (i + 9 < buf.length && buf[i] === 0xFF) {
		const marker = buf[i + 1];
		const len = buf.readUInt16BE(i + 2);
		if (marker >= 0xC0 && marker <= 0xC3) {
			return { width: buf.readUInt16BE(i + 7), height: buf.readUInt16BE(i + 5) };
		}
		i += 2 + len;
	}
	return null;
}

function vec(status) {
	return status ? { x: status.position.x, y: status.position.y, zoom: status.position.zoom } : null;
}

function moveStatusText(status) {
	const m = status && status.moveStatus;
	if (!m) { return null; }
	return { panTilt: m.panTilt !== undefined ? String(m.panTilt) : null,
		zoom: m.zoom !== undefined ? String(m.zoom) : null };
}

function near(a, b) {
	return Math.abs(a.x - b.x) <= POSITION_EPS && Math.abs(a.y - b.y) <= POSITION_EPS
		&& Math.abs(a.zoom - b.zoom) <= POSITION_EPS;
}

function idle(status) {
	const m = status && status.moveStatus;
	return !m || (String(m.panTilt) !== 'MOVING' && String(m.zoom) !== 'MOVING');
}

// Poll GetStatus until the dome is idle (and near `target` when one is given).
async function settle(cam, token, target) {
	const deadline = Date.now() + SETTLE_MS;
	for (;;) {
		const s = await call(cam, 'getStatus', { profileToken: token });
		if (idle(s) && (!target || near(vec(s), target))) { return s; }
		if (Date.now() > deadline) { return s; }
		await sleep(POLL_MS);
	}
}

// A parsed XML value as plain JSON: dates as ISO text, every leaf as text.
function plain(v) {
	if (v instanceof Date) { return v.toISOString(); }
	if (Array.isArray(v)) { return v.map(plain); }
	if (v !== null && typeof v === 'object') {
		return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
	}
	return String(v);
}

async function probePtz(cam, out, token) {
	const ptz = out.ptz = {};
	ptz.configurations = await step(out, 'getConfigurations', async () => {
		const c = await call(cam, 'getConfigurations');
		return Object.values(c).map((v) => ({ token: v.token, nodeToken: v.nodeToken }));
	});
	ptz.nodes = await step(out, 'getNodes', async () => Object.keys(await call(cam, 'getNodes')));
	ptz.options = await step(out, 'getConfigurationOptions', async () => {
		const o = await call(cam, 'getConfigurationOptions', ptz.configurations[0].token);
		return { timeout: { min: String(o.ptzTimeout.min), max: String(o.ptzTimeout.max) },
			spaces: o.ptzspaces.map((sp) => ({ name: sp.name, uri: sp.uri, x: sp.x || null })) };
	}) || null;
	const before = await step(out, 'getStatus', () => call(cam, 'getStatus', { profileToken: token }));
	ptz.before = vec(before);
	await step(out, 'continuousMove', () => call(cam, 'continuousMove',
		{ profileToken: token, x: 0.5, y: 0.25, zoom: 0.2 }));
	await sleep(CONTINUOUS_MS);
	const moving = await step(out, 'getStatus', () => call(cam, 'getStatus', { profileToken: token }));
	ptz.moving = { position: vec(moving), moveStatus: moveStatusText(moving) };
	await step(out, 'stop', () => call(cam, 'stop', { profileToken: token, panTilt: true, zoom: true }));
	const stopped = await step(out, 'getStatus', () => settle(cam, token, null));
	ptz.stopped = { position: vec(stopped), moveStatus: moveStatusText(stopped),
		utcTime: stopped && stopped.utcTime ? new Date(stopped.utcTime).toISOString() : null };
	await sleep(CONTINUOUS_MS / 2);
	const still = await step(out, 'getStatus', () => call(cam, 'getStatus', { profileToken: token }));
	ptz.afterStop = vec(still);

	// Absolute / relative / presets: a dome that only moves continuously faults these.
	const absTarget = { x: -0.3, y: 0.2, zoom: 0.4 };
	ptz.absolute = await step(out, 'absoluteMove', async () => {
		await call(cam, 'absoluteMove', Object.assign({ profileToken: token }, absTarget));
		return { target: absTarget, reached: vec(await settle(cam, token, absTarget)) };
	}) || null;
	ptz.relative = await step(out, 'relativeMove', async () => {
		const start = vec(await call(cam, 'getStatus', { profileToken: token }));
		const delta = { x: 0.1, y: -0.1, zoom: 0.1 };
		await call(cam, 'relativeMove', Object.assign({ profileToken: token }, delta));
		const target = { x: start.x + delta.x, y: start.y + delta.y, zoom: start.zoom + delta.zoom };
		return { start, delta, reached: vec(await settle(cam, token, target)) };
	}) || null;
	ptz.presets = await step(out, 'getPresets', async () => {
		const presets = await call(cam, 'getPresets', { profileToken: token });
		return Object.values(presets).map((p) => ({
			token: String(p.$.token),
			name: String(p.name),
			position: p.PTZPosition ? {
				x: p.PTZPosition.panTilt ? p.PTZPosition.panTilt.$.x : null,
				y: p.PTZPosition.panTilt ? p.PTZPosition.panTilt.$.y : null,
				zoom: p.PTZPosition.zoom ? p.PTZPosition.zoom.$.x : null,
			} : null,
		}));
	}) || null;
	// A preset away from where the dome is, so that reaching it shows a move.
	const here = ptz.relative ? ptz.relative.reached : ptz.afterStop;
	const goal = ptz.presets && ptz.presets.find((p) => p.position && p.position.x !== null
		&& (!here || !near(p.position, here)));
	if (goal) {
		ptz.gotoPreset = await step(out, 'gotoPreset', async () => {
			await call(cam, 'gotoPreset', { profileToken: token, preset: goal.token });
			return { token: goal.token, reached: vec(await settle(cam, token, goal.position)) };
		}) || null;
	}
}

// One NotificationMessage as plain JSON: topic, time, source and data items.
function message(m) {
	const msg = m.message && m.message.message ? m.message.message : {};
	const items = (part) => {
		if (!part || !part.simpleItem) { return {}; }
		const list = Array.isArray(part.simpleItem) ? part.simpleItem : [part.simpleItem];
		return Object.fromEntries(list.map((it) => [String(it.$.Name), String(it.$.Value)]));
	};
	const element = {};
	if (msg.data && msg.data.elementItem) {
		const list = Array.isArray(msg.data.elementItem) ? msg.data.elementItem : [msg.data.elementItem];
		for (const el of list) {
			const { $, ...fields } = el;
			element[String($.Name)] = plain(fields);
		}
	}
	return {
		topic: m.topic && m.topic._ !== undefined ? String(m.topic._) : String(m.topic),
		utcTime: msg.$ && msg.$.UtcTime ? plain(msg.$.UtcTime) : null,
		propertyOperation: msg.$ && msg.$.PropertyOperation ? String(msg.$.PropertyOperation) : null,
		source: items(msg.source),
		data: items(msg.data),
		elements: element,
	};
}

async function probeEvents(cam, out, args) {
	const ev = out.events = { properties: null, subscription: null, messages: [] };
	ev.properties = await step(out, 'getEventProperties', async () => {
		const p = await call(cam, 'getEventProperties');
		return { topicSet: Object.keys(p.topicSet || {}).filter((k) => k !== '$') };
	}) || null;
	const sub = await step(out, 'createPullPointSubscription',
		() => call(cam, 'createPullPointSubscription'));
	if (!sub) { return; }
	ev.subscription = {
		address: sub.subscriptionReference.address.href,
		currentTime: sub.currentTime instanceof Date ? sub.currentTime.toISOString() : String(sub.currentTime),
		terminationTime: sub.terminationTime instanceof Date ? sub.terminationTime.toISOString() : String(sub.terminationTime),
	};
	progress('subscribed');
	// Pull until a message of the wanted topic arrived (a camera may first send the
	// initial state of its properties), or once when no topic is wanted.
	const deadline = Date.now() + PULL_DEADLINE_MS;
	let pulls = 0;
	const wanted = () => args.wantTopic && ev.messages.some((m) => m.topic.endsWith(args.wantTopic));
	do {
		pulls += 1;
		const data = await step(out, 'pullMessages', () => call(cam, 'pullMessages', { messageLimit: 10 }));
		if (!data) { break; }
		let msgs = data.notificationMessage || [];
		if (!Array.isArray(msgs)) { msgs = [msgs]; }
		ev.messages.push(...msgs.map(message));
	} while (args.wantTopic && !wanted() && Date.now() < deadline);
	ev.pulls = pulls;
	ev.renew = await step(out, 'renew', async () => {
		const r = await call(cam, 'renew', {});
		return r && r.terminationTime instanceof Date ? r.terminationTime.toISOString() : String(r && r.terminationTime);
	}) || null;
	ev.unsubscribed = (await step(out, 'unsubscribe', async () => {
		await call(cam, 'unsubscribe');
		return true;
	})) === true;
	if (args.loopEvents > 0 && args.wantTopic) {
		ev.loop = await step(out, 'eventLoop', () => eventLoop(cam, args));
	}
}

// The lib's event loop, as applications use it: listening on 'event' makes the lib
// subscribe and then pull and renew in turn; errors come as 'eventsError'.
function eventLoop(cam, args) {
	return new Promise((resolve) => {
		const loop = { messages: [], errors: [] };
		const done = () => {
			clearTimeout(timer);
			delete cam.createPullPointSubscription;
			cam.removeAllListeners('event');  // the lib then unsubscribes
			resolve(loop);
		};
		const timer = setTimeout(done, PULL_DEADLINE_MS);
		cam.on('eventsError', (err) => loop.errors.push(errText(err)));
		cam.on('event', (m) => {
			const msg = message(m);
			loop.messages.push(msg);
			if (msg.topic.endsWith(args.wantTopic)) {
				const got = loop.messages.filter((x) => x.topic.endsWith(args.wantTopic)).length;
				progress('event ' + got);
				if (got >= args.loopEvents) { done(); }
			}
		});
		// Say "listening" once the lib's subscription exists, not before: an event published
		// earlier would reach nobody.
		const create = Cam.prototype.createPullPointSubscription;
		cam.createPullPointSubscription = function(callback) {
			create.call(this, function(err, ...rest) {
				if (!err) { progress('listening'); }
				callback.call(this, err, ...rest);
			});
		};
	});
}

async function main() {
	const args = parseArgs(process.argv.slice(2));
	const u = new URL(args.url);
	const cam = new Cam({
		hostname: u.hostname,
		port: Number(u.port) || 80,
		path: u.pathname,
		username: args.user,
		password: args.password,
		timeout: args.timeoutMs,
		autoconnect: false,
		preserveAddress: args.preserveAddress,
	});
	const out = { url: args.url, errors: [], warnings: [] };
	// The lib warns when it cannot make sense of a device (e.g. no active video source).
	cam.on('warning', (w) => out.warnings.push(String(w)));

	// connect: GetSystemDateAndTime, GetServices (else GetCapabilities), GetProfiles,
	// GetVideoSources — the lib's own start-up sequence.
	const connected = await step(out, 'connect', () => new Promise((resolve, reject) => {
		cam.connect((err) => (err ? reject(err) : resolve(true)));
	}));
	out.connected = connected === true;
	if (!out.connected) { return out; }
	progress('connected');

	const date = await step(out, 'getSystemDateAndTime', () => call(cam, 'getSystemDateAndTime'));
	out.dateTime = date ? date.toISOString() : null;
	out.deviceInformation = await step(out, 'getDeviceInformation', () => call(cam, 'getDeviceInformation')) || null;
	out.services = await step(out, 'getServices', async () => {
		const s = await call(cam, 'getServices', true);
		return (Array.isArray(s) ? s : [s]).map((x) => ({ namespace: x.namespace, xaddr: x.XAddr,
			version: x.version ? `${x.version.major}.${x.version.minor}` : null }));
	}) || null;
	out.capabilities = await step(out, 'getCapabilities', async () => {
		const c = await call(cam, 'getCapabilities');
		const xaddrs = {};
		for (const name of ['device', 'media', 'PTZ', 'events', 'imaging']) {
			if (c[name] && c[name].XAddr) { xaddrs[name] = c[name].XAddr; }
		}
		return { xaddrs, pullPoint: c.events ? c.events.WSPullPointSupport === true : null };
	}) || null;
	out.scopes = await step(out, 'getScopes', async () => (await call(cam, 'getScopes'))
		.map((s) => String(s.scopeItem))) || null;

	out.profiles = [];
	for (const p of cam.profiles || []) {
		const enc = p.videoEncoderConfiguration || {};
		const entry = {
			token: String(p.$.token),
			name: String(p.name),
			encoding: enc.encoding !== undefined ? String(enc.encoding) : null,
			width: enc.resolution ? enc.resolution.width : null,
			height: enc.resolution ? enc.resolution.height : null,
			fps: enc.rateControl ? enc.rateControl.frameRateLimit : null,
			bitrate: enc.rateControl ? enc.rateControl.bitrateLimit : null,
			ptz: Boolean(p.PTZConfiguration),
		};
		const stream = await step(out, 'getStreamUri', () => call(cam, 'getStreamUri',
			{ profileToken: entry.token, protocol: 'RTSP' }));
		entry.streamUri = stream ? String(stream.uri) : null;
		const snap = await step(out, 'getSnapshotUri', () => call(cam, 'getSnapshotUri',
			{ profileToken: entry.token }));
		entry.snapshotUri = snap ? String(snap.uri) : null;
		if (entry.snapshotUri) {
			let target = entry.snapshotUri;
			if (args.preserveAddress) {
				const t = new URL(target);
				t.hostname = u.hostname;
				t.port = u.port;
				target = t.href;
			}
			const got = await step(out, 'snapshot', () => httpGet(cam, target,
				args.snapshotTimeoutMs || args.timeoutMs));
			entry.snapshot = got ? {
				status: got.status,
				contentType: got.contentType,
				bytes: got.body.length,
				magic: got.body.subarray(0, 2).toString('hex').toUpperCase(),
				jpegEnd: got.body.subarray(-2).toString('hex').toUpperCase(),
				size: jpegSize(got.body),
			} : null;
		}
		out.profiles.push(entry);
	}
	out.activeSource = cam.activeSource ? { profileToken: cam.activeSource.profileToken,
		ptz: cam.activeSource.ptz ? String(cam.activeSource.ptz.token) : null } : null;

	const ptzProfile = (out.profiles.find((p) => p.ptz) || {}).token;
	if (args.ptz && ptzProfile && cam.uri && cam.uri.ptz) {
		await probePtz(cam, out, ptzProfile);
	} else {
		out.ptz = null;
	}
	if (args.events && cam.uri && cam.uri.events) {
		await probeEvents(cam, out, args);
	} else {
		out.events = null;
	}
	return out;
}

main().then((out) => {
	process.stdout.write(JSON.stringify(out) + '\n');
	process.exit(0);
}, (err) => {
	process.stderr.write('probe: ' + errText(err) + '\n');
	process.exit(2);
});
