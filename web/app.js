// orakgarak's web app: sign in, sing (or choose a file), upload straight
// to the object store through a presigned PUT, follow the upload's
// states, and show the range on a keyboard with the songs to sing.
// Plain browser JavaScript, no build step and nothing fetched from
// elsewhere: the server builds these files into its binary.
"use strict";

const TEXT = {
  en: {
    language: "Language", signIn: "Sign in", signedIn: "Signed in as {user}", devUser: "{user} (development)",
    lead: "Sing a few phrases you know well. We measure your range and find karaoke songs that sit where your voice is comfortable.",
    recordTitle: "Sing", record: "Start singing", stop: "Stop", chooseFile: "or choose a recording",
    note: "Note", time: "Time", level: "Level",
    quietHint: "Too quiet: move closer to the microphone or sing louder.",
    journeyTitle: "Your take", uploading: "Uploading",
    resultTitle: "Your range", songsTitle: "Songs for you", again: "Sing again", sendAnyway: "Send anyway",
    voiceCaveat: "This is a guess from one take: it says where your voice sat today. Trained singers reach further, and a label is not a limit.",
    rangeLine: "{low} to {high}, sitting around {sit}",
    keyboardLabel: "Piano keyboard: your range is {low} to {high}; your voice sits around {sit}.",
    voiceType: "Closest voice type: {type}",
    keyShift: "key {shift}", originalKey: "original key", fits: "fits", stretches: "stretches you",
    comfort: "{pct}% in your comfortable middle", part: "part: {part}", noSongs: "No songs fit this range yet.",
    slow: "This is taking longer than usual (now: {state}). You can keep waiting or sing again.",
    states: { CREATED: "Waiting for the upload", UPLOADED: "Received", CONVERTING: "Converting", CONVERTED: "Converted",
      ANALYZING: "Listening to your voice", ANALYZED: "Range measured", RECOMMENDING: "Choosing songs",
      COMPLETED: "Done", RETRYING: "Retrying after a hiccup", FAILED: "Failed", REJECTED: "Refused", EXPIRED: "Expired" },
    types: { bass: "bass", baritone: "baritone", tenor: "tenor", alto: "alto", mezzo: "mezzo-soprano", soprano: "soprano" },
    problems: {
      silent: "We couldn't hear anything. Check that the microphone is on and not muted, then sing closer to it.",
      quiet: "This take is very quiet: we may not hear your voice. Sing again closer to the microphone, or send it anyway.",
      too_short: "That take was too short. Sing for at least {min} seconds.",
      too_long: "That take is too long. Keep it under {max} seconds.",
      too_large: "That file is too big. Choose a recording under {mb} MB.",
      no_voice: "We heard sound but no singing we could follow. Sing a few held notes, without backing music.",
      unsupported: "We couldn't read that file. Record again, or choose an audio recording (m4a, ogg, webm, wav, mp3).",
      corrupt: "That recording is damaged. Record again, or choose another file.",
      expired: "The upload link expired before the recording arrived. Sing again.",
      refused: "The recording did not arrive whole. Sing again.",
      store: "The storage server refused the recording. Sing again; if it keeps happening, tell us (ref {ref}).",
      failed: "Something went wrong on our side, even after retrying. Try again later (ref {ref}).",
      server: "The service is having trouble. Try again in a minute (ref {ref}).",
      offline: "You're offline, or the server can't be reached. Check your connection and try again.",
      microphone: "We can't use the microphone. Allow microphone access for this page, or choose a recording instead.",
      noRecorder: "This browser cannot record here. Choose a recording instead.",
      signIn: "Sign in to sing: your takes and results are kept under your account.",
      signInExpired: "Your sign-in has expired. Sign in again.",
      signInFailed: "Sign-in did not complete ({why}). Try again.",
      noSignIn: "This server has no sign-in for browsers configured.",
      slow: "We gave up waiting: the take is still {state}. Sing again, or come back later (ref {ref}).",
    },
  },
  ko: {
    language: "언어", signIn: "로그인", signedIn: "{user}(으)로 로그인됨", devUser: "{user} (개발용)",
    lead: "잘 아는 노래를 몇 소절 불러 보세요. 음역을 재고, 목소리가 편한 곳에 놓이는 노래방 곡을 찾아 드립니다.",
    recordTitle: "노래하기", record: "노래 시작", stop: "멈추기", chooseFile: "또는 녹음 파일 선택",
    note: "음", time: "시간", level: "음량",
    quietHint: "너무 작아요: 마이크에 더 가까이 가거나 더 크게 불러 주세요.",
    journeyTitle: "이번 녹음", uploading: "올리는 중",
    resultTitle: "나의 음역", songsTitle: "추천 곡", again: "다시 부르기", sendAnyway: "그래도 보내기",
    voiceCaveat: "한 번의 녹음으로 짐작한 결과입니다. 오늘 목소리가 놓인 자리일 뿐, 훈련하면 더 넓어지고 이름표가 한계는 아닙니다.",
    rangeLine: "{low}부터 {high}까지, 주로 {sit} 부근",
    keyboardLabel: "피아노 건반: 음역은 {low}부터 {high}까지이고 목소리는 주로 {sit} 부근에 있습니다.",
    voiceType: "가장 가까운 성부: {type}",
    keyShift: "키 {shift}", originalKey: "원키", fits: "딱 맞음", stretches: "조금 벅참",
    comfort: "{pct}%가 편한 음역 안", part: "파트: {part}", noSongs: "아직 이 음역에 맞는 곡이 없습니다.",
    slow: "평소보다 오래 걸리고 있습니다 (현재: {state}). 더 기다리거나 다시 부를 수 있습니다.",
    states: { CREATED: "업로드 기다리는 중", UPLOADED: "받음", CONVERTING: "변환 중", CONVERTED: "변환됨",
      ANALYZING: "목소리 듣는 중", ANALYZED: "음역 측정됨", RECOMMENDING: "곡 고르는 중",
      COMPLETED: "완료", RETRYING: "잠시 문제가 있어 다시 시도 중", FAILED: "실패", REJECTED: "거부됨", EXPIRED: "만료됨" },
    types: { bass: "베이스", baritone: "바리톤", tenor: "테너", alto: "알토", mezzo: "메조소프라노", soprano: "소프라노" },
    problems: {
      silent: "아무 소리도 들리지 않았어요. 마이크가 켜져 있는지, 음소거가 아닌지 확인하고 마이크 가까이에서 불러 주세요.",
      quiet: "녹음이 아주 작아서 목소리가 안 들릴 수 있어요. 마이크 가까이에서 다시 부르거나 그래도 보내세요.",
      too_short: "녹음이 너무 짧아요. 적어도 {min}초 동안 불러 주세요.",
      too_long: "녹음이 너무 길어요. {max}초 안으로 불러 주세요.",
      too_large: "파일이 너무 커요. {mb} MB보다 작은 녹음을 골라 주세요.",
      no_voice: "소리는 들렸지만 따라갈 수 있는 노랫소리가 없었어요. 반주 없이 음을 길게 끌며 불러 주세요.",
      unsupported: "이 파일을 읽을 수 없어요. 다시 녹음하거나 오디오 파일(m4a, ogg, webm, wav, mp3)을 골라 주세요.",
      corrupt: "녹음 파일이 손상되었어요. 다시 녹음하거나 다른 파일을 골라 주세요.",
      expired: "녹음이 도착하기 전에 업로드 링크가 만료되었어요. 다시 불러 주세요.",
      refused: "녹음이 온전히 도착하지 않았어요. 다시 불러 주세요.",
      store: "저장 서버가 녹음을 거부했어요. 다시 불러 주시고, 계속되면 알려 주세요 (참조 {ref}).",
      failed: "여러 번 다시 시도했지만 저희 쪽에서 문제가 생겼어요. 나중에 다시 해 주세요 (참조 {ref}).",
      server: "서비스에 문제가 있어요. 잠시 후 다시 해 주세요 (참조 {ref}).",
      offline: "오프라인이거나 서버에 연결할 수 없어요. 연결을 확인하고 다시 해 주세요.",
      microphone: "마이크를 쓸 수 없어요. 이 페이지에 마이크 권한을 주거나 녹음 파일을 골라 주세요.",
      noRecorder: "이 브라우저에서는 녹음할 수 없어요. 녹음 파일을 골라 주세요.",
      signIn: "노래하려면 로그인해 주세요. 녹음과 결과는 계정에 보관됩니다.",
      signInExpired: "로그인이 만료되었어요. 다시 로그인해 주세요.",
      signInFailed: "로그인을 마치지 못했어요 ({why}). 다시 해 주세요.",
      noSignIn: "이 서버에는 브라우저 로그인이 설정되어 있지 않아요.",
      slow: "기다리다 멈췄어요: 녹음이 아직 {state} 상태예요. 다시 부르거나 나중에 와 주세요 (참조 {ref}).",
    },
  },
};

const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const noteName = (midi) => NAMES[((midi % 12) + 12) % 12] + (Math.floor(midi / 12) - 1);
// Voice types by the span they usually sing (MIDI): a rough guide.
const VOICE_TYPES = [["bass", 40, 64], ["baritone", 45, 69], ["tenor", 48, 72], ["alto", 53, 77], ["mezzo", 57, 81], ["soprano", 60, 84]];
const TERMINAL = ["COMPLETED", "FAILED", "REJECTED", "EXPIRED"];
const JOURNEY = ["UPLOADED", "CONVERTING", "CONVERTED", "ANALYZING", "ANALYZED", "RECOMMENDING", "COMPLETED"];
const SLOW_MS = 30000;
const GIVE_UP_MS = 180000;
// Poll often while a result is likely close, then ease off.
const pollDelay = (waitedMs) => (waitedMs < 5000 ? 150 : waitedMs < SLOW_MS ? 400 : 1000);
const QUIET_DBFS = -45;

const $ = (id) => document.getElementById(id);
const app = { lang: "en", config: null, token: null, user: null, busy: false, take: null, refs: {} };

function t(key, vars = {}) {
  const parts = key.split(".");
  let value = TEXT[app.lang];
  for (const part of parts) value = value == null ? undefined : value[part];
  if (value == null) value = parts.reduce((v, p) => (v == null ? undefined : v[p]), TEXT.en) ?? key;
  return String(value).replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? ""));
}

function applyLanguage(lang) {
  app.lang = TEXT[lang] ? lang : "en";
  document.documentElement.lang = app.lang;
  $("lang").value = app.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  if (app.recording) $("rec").textContent = t("stop");
  showUser();
  if (app.lastProblem) showProblem(...app.lastProblem);
  if (app.lastResult) showResult(app.lastResult);
}

// ---- problems, in plain words --------------------------------------------

function showProblem(key, vars = {}, canSendAnyway = false) {
  app.lastProblem = [key, vars, canSendAnyway];
  $("problem-text").textContent = t("problems." + key, vars);
  $("send-anyway").hidden = !canSendAnyway;
  $("problem").hidden = false;
  $("problem").dataset.code = key;
  $("problem").focus?.();
}

function clearProblem() {
  app.lastProblem = null;
  $("problem").hidden = true;
  delete $("problem").dataset.code;
}

class ApiProblem extends Error {
  constructor(key, vars = {}) { super(key); this.key = key; this.vars = vars; }
}

// ---- the API ---------------------------------------------------------------

async function api(method, path, body, headers = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { ...(body ? { "content-type": "application/json" } : {}), ...(app.token ? { authorization: "Bearer " + app.token } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiProblem("offline");
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (response.ok) return { status: response.status, body: json };
  const ref = json?.traceId ?? response.headers.get("x-trace-id") ?? "";
  const code = json?.error?.code;
  if (response.status === 401) {
    forgetToken();
    throw new ApiProblem("signInExpired");
  }
  if (code === "too_large") throw new ApiProblem("too_large", { mb: Math.floor((app.config?.max_upload_bytes ?? 0) / 1048576) });
  if (code === "unprocessable") throw new ApiProblem("unsupported");
  throw new ApiProblem("server", { ref });
}

// ---- sign-in ----------------------------------------------------------------

function showUser() {
  const who = $("who");
  const button = $("sign-in");
  if (app.token && app.user) {
    who.textContent = t("signedIn", { user: app.config?.sign_in === "dev" ? t("devUser", { user: app.user }) : app.user });
    button.hidden = true;
  } else {
    who.textContent = "";
    button.hidden = !app.config || app.config.sign_in === "none";
  }
  $("rec").disabled = !app.token || app.busy;
  $("file").disabled = !app.token || app.busy;
}

function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

function useToken(token) {
  const claims = tokenClaims(token);
  if (!claims || !claims.exp || claims.exp * 1000 < Date.now() + 60000) return false;
  app.token = token;
  app.user = claims.preferred_username ?? claims.email ?? claims.sub;
  return true;
}

function forgetToken() {
  app.token = null;
  app.user = null;
  localStorage.removeItem("orakgarak.devToken");
  sessionStorage.removeItem("orakgarak.token");
  showUser();
}

async function signInDev() {
  const previous = tokenClaims(localStorage.getItem("orakgarak.devToken") ?? "")?.sub;
  const { body } = await api("POST", "/v1/dev/token", previous ? { user: previous } : {});
  localStorage.setItem("orakgarak.devToken", body.token);
  useToken(body.token);
}

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

async function discovery() {
  const issuer = app.config.oidc.issuer.replace(/\/$/, "");
  const response = await fetch(issuer + "/.well-known/openid-configuration");
  if (!response.ok) throw new Error("discovery answered " + response.status);
  return response.json();
}

// Authorization code with PKCE (RFC 7636): the verifier stays in this tab.
async function signInOidc() {
  const meta = await discovery();
  const verifier = randomString();
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = randomString();
  sessionStorage.setItem("orakgarak.pkce", JSON.stringify({ verifier, state }));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: app.config.oidc.client_id, redirect_uri: location.origin + "/",
    scope: app.config.oidc.scope, state, code_challenge: challenge, code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

async function finishOidc(params) {
  const saved = JSON.parse(sessionStorage.getItem("orakgarak.pkce") ?? "null");
  sessionStorage.removeItem("orakgarak.pkce");
  history.replaceState(null, "", location.pathname);
  if (params.get("error")) throw new Error(params.get("error_description") ?? params.get("error"));
  if (!saved || saved.state !== params.get("state")) throw new Error("state mismatch");
  const meta = await discovery();
  const response = await fetch(meta.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: location.origin + "/",
      client_id: app.config.oidc.client_id, code_verifier: saved.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) throw new Error(body.error ?? "token endpoint answered " + response.status);
  if (!useToken(body.access_token)) throw new Error("the token is not usable");
  sessionStorage.setItem("orakgarak.token", body.access_token);
}

async function signIn() {
  clearProblem();
  try {
    if (app.config.sign_in === "dev") await signInDev();
    else if (app.config.sign_in === "oidc") await signInOidc();
  } catch (error) {
    if (error instanceof ApiProblem) showProblem(error.key, error.vars);
    else showProblem("signInFailed", { why: error.message });
  }
  showUser();
}

// ---- live pitch and level ------------------------------------------------------

// YIN's cumulative mean normalised difference on a decimated window: a
// pitch (Hz) or null when nothing periodic enough is there.
function detectPitch(samples, rate) {
  const step = rate > 32000 ? 2 : 1;
  const n = Math.floor(samples.length / step);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = samples[i * step];
  const r = rate / step;
  const minLag = Math.max(2, Math.floor(r / 1100));
  const maxLag = Math.min(Math.floor(r / 65), Math.floor(n / 2));
  const window = n - maxLag;
  const d = new Float32Array(maxLag + 2).fill(1);
  let running = 0;
  for (let lag = 1; lag <= maxLag; lag++) {
    let sum = 0;
    for (let i = 0; i < window; i++) {
      const diff = x[i] - x[i + lag];
      sum += diff * diff;
    }
    running += sum;
    d[lag] = running > 0 ? (sum * lag) / running : 1;
  }
  let best = -1;
  for (let lag = minLag; lag < maxLag; lag++) {
    if (d[lag] < 0.15) {
      while (lag + 1 < maxLag && d[lag + 1] < d[lag]) lag++;
      best = lag;
      break;
    }
  }
  if (best < 0) return null;
  const a = d[best - 1], b = d[best], c = d[best + 1];
  const curve = a - 2 * b + c;
  const shift = curve !== 0 ? (a - c) / (2 * curve) : 0;
  return r / (best + Math.max(-1, Math.min(1, shift)));
}

function startMeter(stream) {
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  const buffer = new Float32Array(analyser.fftSize);
  const canvas = $("trace");
  const draw = canvas.getContext("2d");
  const trace = [];
  let peak = -100;
  let frame = 0;
  const started = performance.now();
  const meter = { context, peakDbfs: () => peak, stop: () => { cancelAnimationFrame(meter.raf); context.close(); } };
  const tick = () => {
    meter.raf = requestAnimationFrame(tick);
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const v of buffer) sum += v * v;
    const dbfs = 10 * Math.log10(sum / buffer.length + 1e-12);
    peak = Math.max(peak, dbfs);
    $("level").value = Math.max(-60, dbfs);
    const seconds = (performance.now() - started) / 1000;
    $("clock").value = seconds.toFixed(1) + " s";
    $("quiet").hidden = seconds < 2 || peak > QUIET_DBFS;
    // The pitch every other frame (about 30 a second) is plenty to watch.
    if (frame++ % 2) return;
    const hz = dbfs > -55 ? detectPitch(buffer, context.sampleRate) : null;
    const midi = hz ? 69 + 12 * Math.log2(hz / 440) : null;
    $("note").value = midi ? noteName(Math.round(midi)) : "–";
    trace.push([seconds, midi]);
    while (trace.length && trace[0][0] < seconds - 8) trace.shift();
    plotTrace(draw, canvas, trace, seconds);
  };
  tick();
  return meter;
}

function plotTrace(draw, canvas, trace, now) {
  const { width, height } = canvas;
  draw.clearRect(0, 0, width, height);
  const low = 36, high = 84;
  const y = (m) => height - ((m - low) / (high - low)) * height;
  draw.strokeStyle = "#eee";
  draw.fillStyle = "#999";
  draw.font = "11px sans-serif";
  for (let m = low; m <= high; m += 12) {
    draw.beginPath(); draw.moveTo(0, y(m)); draw.lineTo(width, y(m)); draw.stroke();
    draw.fillText(noteName(m), 4, y(m) - 2);
  }
  draw.fillStyle = "#6d3fc0";
  for (const [s, m] of trace) {
    if (m == null || m < low || m > high) continue;
    draw.fillRect(width - ((now - s) / 8) * width, y(m) - 2, 3, 4);
  }
}

// ---- recording ---------------------------------------------------------------

const RECORDER_TYPES = [["audio/webm;codecs=opus", "audio/webm", "webm"], ["audio/ogg;codecs=opus", "audio/ogg", "ogg"], ["audio/mp4", "audio/mp4", "m4a"], ["audio/webm", "audio/webm", "webm"]];

async function toggleRecording() {
  if (app.recording) return app.recording.stop();
  clearProblem();
  if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === "undefined") return showProblem("noRecorder");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
  } catch {
    return showProblem("microphone");
  }
  const [mime, type, ext] = RECORDER_TYPES.find(([m]) => MediaRecorder.isTypeSupported(m)) ?? [null, "audio/webm", "webm"];
  const recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : {});
  const chunks = [];
  const meter = startMeter(stream);
  $("live").hidden = false;
  recorder.ondataavailable = (event) => event.data.size && chunks.push(event.data);
  const limit = setTimeout(() => recorder.state === "recording" && recorder.stop(), (app.config.max_seconds - 0.5) * 1000);
  recorder.onstop = () => {
    clearTimeout(limit);
    meter.stop();
    for (const track of stream.getTracks()) track.stop();
    app.recording = null;
    $("rec").textContent = t("record");
    const blob = new Blob(chunks, { type });
    const take = { blob, type, filename: "take." + ext };
    if (meter.peakDbfs() < QUIET_DBFS) {
      app.take = take;
      showProblem("quiet", {}, true);
      return;
    }
    send(take);
  };
  app.recording = { stop: () => recorder.stop() };
  recorder.start(250);
  app.stoppedAt = null;
  $("rec").textContent = t("stop");
}

function chosenFile(file) {
  clearProblem();
  if (!file) return;
  if (file.size > app.config.max_upload_bytes) return showProblem("too_large", { mb: Math.floor(app.config.max_upload_bytes / 1048576) });
  const type = (file.type || guessType(file.name)).split(";")[0];
  send({ blob: file, type, filename: file.name.replace(/[\\/]/g, "_").slice(-200) || "take" });
}

function guessType(name) {
  const ext = name.split(".").pop().toLowerCase();
  return { m4a: "audio/mp4", mp4: "audio/mp4", ogg: "audio/ogg", opus: "audio/ogg", webm: "audio/webm", wav: "audio/wav", mp3: "audio/mpeg", flac: "audio/flac", aac: "audio/aac" }[ext] ?? "application/octet-stream";
}

// ---- upload and journey ----------------------------------------------------------

function put(url, headers, blob, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) {
      // The browser sets these itself (and refuses to be told).
      if (!["host", "content-length"].includes(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => resolve({ status: 0, body: "" });
    xhr.send(blob);
  });
}

async function send(take) {
  app.take = null;
  app.busy = true;
  app.lastResult = null;
  showUser();
  $("result").hidden = true;
  $("journey").hidden = false;
  $("progress").value = 0;
  $("states").replaceChildren();
  $("slow").hidden = true;
  const started = performance.now();
  try {
    const { body: created } = await api("POST", "/v1/uploads",
      { filename: take.filename, content_type: take.type, size_bytes: take.blob.size },
      { "idempotency-key": randomString() });
    app.refs.trace = created.trace_id;
    document.body.dataset.uploadId = created.upload_id;
    const stored = await put(created.put_url, created.required_headers, take.blob, (share) => ($("progress").value = Math.round(share * 100)));
    if (stored.status === 0) throw new ApiProblem("offline");
    if (stored.status >= 300) {
      const expired = Date.parse(created.expires_at) <= Date.now() || /expired/i.test(stored.body);
      throw new ApiProblem(expired ? "expired" : "store", { ref: created.trace_id });
    }
    $("progress").value = 100;
    let { body: upload } = await api("POST", `/v1/uploads/${created.upload_id}/complete`);
    while (!TERMINAL.includes(upload.state)) {
      showStates(upload);
      const waited = performance.now() - started;
      if (waited > GIVE_UP_MS) throw new ApiProblem("slow", { state: t("states." + upload.state), ref: upload.trace_id });
      if (waited > SLOW_MS) {
        $("slow").textContent = t("slow", { state: t("states." + upload.state) });
        $("slow").hidden = false;
      }
      await new Promise((resolve) => setTimeout(resolve, pollDelay(waited)));
      ({ body: upload } = await api("GET", `/v1/uploads/${created.upload_id}`));
    }
    showStates(upload);
    if (upload.state !== "COMPLETED") {
      const key = upload.error_code ?? "failed";
      throw new ApiProblem(key, { ref: upload.trace_id, min: app.config.min_seconds, max: app.config.max_seconds });
    }
    app.lastResult = upload;
    showResult(upload);
    document.body.dataset.stopToResultMs = String(Math.round(performance.now() - started));
  } catch (error) {
    if (error instanceof ApiProblem) showProblem(error.key, error.vars);
    else showProblem("server", { ref: app.refs.trace ?? "" });
  } finally {
    app.busy = false;
    showUser();
  }
}

function showStates(upload) {
  const reached = new Set((upload.history ?? []).map((h) => h.to_state));
  const list = $("states");
  list.replaceChildren();
  for (const state of JOURNEY.concat(["RETRYING", "FAILED", "REJECTED", "EXPIRED"].filter((s) => reached.has(s)))) {
    if (!reached.has(state) && !JOURNEY.includes(state)) continue;
    const item = document.createElement("li");
    item.textContent = t("states." + state);
    item.dataset.state = state;
    item.className = state === upload.state ? "now" : reached.has(state) ? "done" : "";
    if (state === upload.state) item.setAttribute("aria-current", "step");
    list.append(item);
  }
}

// ---- result -----------------------------------------------------------------------

function voiceType(low, high, sit) {
  const middle = (low + high + 2 * sit) / 4;
  return VOICE_TYPES.reduce((best, type) => {
    const centre = (type[1] + type[2]) / 2;
    return Math.abs(centre - middle) < Math.abs((best[1] + best[2]) / 2 - middle) ? type : best;
  })[0];
}

function keyboard(low, high, sit) {
  const first = 36, last = 84;
  const whites = [];
  for (let m = first; m <= last; m++) if (![1, 3, 6, 8, 10].includes(m % 12)) whites.push(m);
  const w = 20, h = 90, svg = [];
  const x = new Map(whites.map((m, i) => [m, i * w]));
  const fill = (m, base) => (m === sit ? "#6d3fc0" : m >= low && m <= high ? (base === "white" ? "#f6d6e2" : "#b4235a") : base);
  for (const m of whites) {
    svg.push(`<rect x="${x.get(m)}" y="0" width="${w}" height="${h}" fill="${fill(m, "white")}" stroke="#555" data-midi="${m}"/>`);
    if (m % 12 === 0) svg.push(`<text x="${x.get(m) + 3}" y="${h - 6}" font-size="9" fill="#333">${noteName(m)}</text>`);
  }
  for (let m = first; m <= last; m++) {
    if (![1, 3, 6, 8, 10].includes(m % 12)) continue;
    svg.push(`<rect x="${x.get(m - 1) + w * 0.65}" y="0" width="${w * 0.7}" height="${h * 0.6}" fill="${fill(m, "#222")}" stroke="#222" data-midi="${m}"/>`);
  }
  for (const [m, label] of [[low, noteName(low)], [high, noteName(high)]]) {
    const at = x.has(m) ? x.get(m) + w / 2 : x.get(m - 1) + w;
    svg.push(`<text x="${at}" y="${h + 14}" font-size="11" text-anchor="middle" font-weight="700" fill="#b4235a">${label}</text>`);
  }
  const label = t("keyboardLabel", { low: noteName(low), high: noteName(high), sit: noteName(sit) });
  return `<svg viewBox="0 0 ${whites.length * w} ${h + 18}" role="img" aria-label="${label}"><title>${label}</title>${svg.join("")}</svg>`;
}

function showResult(upload) {
  const range = upload.analysis.range;
  const [low, high, sit] = [range.lowest, range.highest, range.tessitura];
  $("result").hidden = false;
  const text = $("range-text");
  text.textContent = t("rangeLine", { low: noteName(low), high: noteName(high), sit: noteName(sit) });
  text.dataset.lowest = noteName(low);
  text.dataset.highest = noteName(high);
  $("keyboard").innerHTML = keyboard(low, high, sit);
  $("voice-type").textContent = t("voiceType", { type: t("types." + voiceType(low, high, sit)) });
  const list = $("songs");
  list.replaceChildren();
  const songs = upload.result?.recommendations ?? [];
  if (!songs.length) {
    const item = document.createElement("li");
    item.textContent = t("noSongs");
    list.append(item);
  }
  for (const song of songs) {
    const item = document.createElement("li");
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = `${song.title} — ${song.artist}`;
    const fit = document.createElement("span");
    fit.className = "fit" + (song.fits ? "" : " stretch");
    fit.textContent = song.fits ? t("fits") : t("stretches");
    title.append(" ", fit);
    const meta = document.createElement("div");
    meta.className = "meta";
    const shift = song.key_shift === 0 ? t("originalKey") : t("keyShift", { shift: (song.key_shift > 0 ? "+" : "") + song.key_shift });
    const bits = [shift, song.sung_range, t("comfort", { pct: Math.round((song.comfort ?? 0) * 100) })];
    if (song.part) bits.push(t("part", { part: song.part }));
    meta.textContent = bits.join(" · ");
    const why = document.createElement("div");
    why.className = "meta";
    why.textContent = song.reason ?? "";
    item.append(title, meta, why);
    item.dataset.keyShift = String(song.key_shift);
    list.append(item);
  }
  $("result-title").focus?.();
}

function again() {
  clearProblem();
  app.take = null;
  app.lastResult = null;
  $("result").hidden = true;
  $("journey").hidden = true;
  $("live").hidden = true;
  $("rec").focus();
}

// ---- start -----------------------------------------------------------------------------

async function start() {
  const saved = localStorage.getItem("orakgarak.lang");
  applyLanguage(saved ?? (navigator.language ?? "en").slice(0, 2).toLowerCase());
  $("lang").addEventListener("change", (event) => {
    localStorage.setItem("orakgarak.lang", event.target.value);
    applyLanguage(event.target.value);
  });
  $("rec").addEventListener("click", toggleRecording);
  $("file").addEventListener("change", (event) => { chosenFile(event.target.files[0]); event.target.value = ""; });
  $("again").addEventListener("click", again);
  $("problem-again").addEventListener("click", again);
  $("send-anyway").addEventListener("click", () => { const take = app.take; clearProblem(); if (take) send(take); });
  $("sign-in").addEventListener("click", signIn);
  window.addEventListener("offline", () => showProblem("offline"));
  try {
    app.config = (await api("GET", "/v1/client-config")).body;
  } catch (error) {
    showProblem(error.key ?? "offline", error.vars);
    return;
  }
  const params = new URLSearchParams(location.search);
  try {
    if (app.config.sign_in === "oidc" && (params.has("code") || params.has("error"))) await finishOidc(params);
  } catch (error) {
    showProblem("signInFailed", { why: error.message });
  }
  if (!app.token) {
    const kept = app.config.sign_in === "dev" ? localStorage.getItem("orakgarak.devToken") : sessionStorage.getItem("orakgarak.token");
    if (kept) useToken(kept);
  }
  if (!app.token && app.config.sign_in === "dev") await signIn();
  if (!app.token && !app.lastProblem) showProblem(app.config.sign_in === "none" ? "noSignIn" : "signIn");
  showUser();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", start);
