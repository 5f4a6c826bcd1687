/* global window, document, navigator, fetch, setTimeout, clearTimeout, MediaStream, JsSIP */
/**
 * The portal's softphone page (src/portal/ui-softphone.ts) in the browser: JsSIP over the edge's
 * secure WebSocket (RFC 7118), registered with the short-lived credentials the portal mints for
 * the signed-in account (POST <data-credentials>, renewed before they expire). Calls with audio
 * and video, answer, hang up, mute, and SIP MESSAGE chat. Plain DOM, no framework, no inline
 * script (the page's CSP allows scripts of the portal only).
 *
 * `window.twPhone` exposes the UA and the current call (`session`, whose `connection` is the
 * RTCPeerConnection) for debugging and for the browser tests.
 */
(function () {
  'use strict';

  const root = document.getElementById('phone');
  if (!root) return;
  const cfg = root.dataset;
  const byId = (id) => document.getElementById(id);
  const el = {
    reg: byId('reg-state'),
    call: byId('call-state'),
    dial: byId('dial'),
    peer: byId('peer'),
    withVideo: byId('with-video'),
    callButton: byId('call'),
    incoming: byId('incoming'),
    incomingFrom: byId('incoming-from'),
    answer: byId('answer'),
    decline: byId('decline'),
    hangup: byId('hangup'),
    mute: byId('mute'),
    camera: byId('camera'),
    remoteVideo: byId('remote-video'),
    localVideo: byId('local-video'),
    messages: byId('messages'),
    chat: byId('chat'),
    chatText: byId('chat-text'),
    send: byId('send'),
  };
  /** No STUN or TURN: host candidates only (a media relay comes later). */
  const PC_CONFIG = { iceServers: [] };
  const RETRY_RENEWAL_S = 30;

  const phone = { ua: null, session: null, lastSession: null, localStream: null, registered: false, incomingVideo: false, renew: null };
  window.twPhone = phone;

  function show(node, state, text) {
    node.dataset.state = state;
    node.textContent = text;
  }

  /** `sip:6505550001@<our domain>` shows as 6505550001; other addresses as they are. */
  function display(uri) {
    const text = String(uri);
    const m = /^sips?:([^@;]+)@([^;>]+)/i.exec(text);
    return m && m[2].toLowerCase() === cfg.domain.toLowerCase() ? m[1] : text.replace(/^sips?:/i, '');
  }

  /** What was typed as a SIP URI: digits become a number of our domain. */
  function targetOf(text) {
    const t = text.trim();
    if (/^\+?[0-9*#]{1,32}$/.test(t)) return `sip:${t}@${cfg.domain}`;
    if (/^sips?:[^\s@]+@[^\s@]+$/i.test(t)) return t;
    if (/^[^\s@:]+@[^\s@]+$/.test(t)) return `sip:${t}`;
    return undefined;
  }

  function setRegistered(registered) {
    phone.registered = registered;
    el.callButton.disabled = !registered || phone.session !== null;
    el.send.disabled = !registered;
  }

  function setInCall(active) {
    el.hangup.disabled = !active;
    el.mute.disabled = !active;
    el.camera.disabled = !active;
    el.callButton.disabled = active || !phone.registered;
    if (!active) {
      for (const [button, text] of [
        [el.mute, 'Mute'],
        [el.camera, 'Stop video'],
      ]) {
        button.setAttribute('aria-pressed', 'false');
        button.textContent = text;
      }
    }
  }

  // ---- media ----

  async function localMedia(video) {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch (error) {
      if (!video) throw error;
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    }
    phone.localStream = stream;
    el.localVideo.srcObject = stream;
    return stream;
  }

  function stopLocalMedia() {
    if (phone.localStream) for (const track of phone.localStream.getTracks()) track.stop();
    phone.localStream = null;
    el.localVideo.srcObject = null;
    el.remoteVideo.srcObject = null;
  }

  function watchConnection(session) {
    const hook = (pc) =>
      pc.addEventListener('track', (event) => {
        const stream = event.streams[0] || new MediaStream([event.track]);
        if (el.remoteVideo.srcObject !== stream) el.remoteVideo.srcObject = stream;
      });
    if (session.connection) hook(session.connection);
    else session.on('peerconnection', (e) => hook(e.peerconnection));
  }

  function offersVideo(request) {
    return /\r?\nm=video [1-9]/.test((request && request.body) || '');
  }

  // ---- calls ----

  function failureText(e) {
    const response = e.message && e.message.status_code ? e.message : undefined;
    if (e.originator === 'remote' && response) return `Call failed: ${response.status_code} ${response.reason_phrase}`;
    if (e.cause === JsSIP.C.causes.CANCELED) return e.originator === 'local' ? 'Call cancelled' : 'Missed call (the caller hung up)';
    if (e.cause === JsSIP.C.causes.REJECTED && e.originator === 'local') return 'Call declined';
    return `Call failed: ${e.cause}`;
  }

  function endCall(session, state, text) {
    if (phone.session !== session) return;
    phone.session = null;
    el.incoming.hidden = true;
    stopLocalMedia();
    setInCall(false);
    show(el.call, state, text);
  }

  function onNewSession(e) {
    const session = e.session;
    if (phone.session && phone.session !== session) {
      if (e.originator === 'remote') session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    phone.session = session;
    phone.lastSession = session;
    const peer = display(session.remote_identity.uri.toString());
    watchConnection(session);
    session.on('progress', () => {
      if (session.direction === 'outgoing') show(el.call, 'ringing', `Ringing at ${peer}…`);
    });
    session.on('accepted', () => {
      el.incoming.hidden = true;
      show(el.call, 'in-call', `In a call with ${peer}`);
    });
    session.on('ended', (end) => {
      const who = end.originator === 'local' ? 'you hung up' : `${peer} hung up`;
      endCall(session, 'ended', `Call ended: ${who}`);
    });
    session.on('failed', (fail) => endCall(session, 'failed', failureText(fail)));
    setInCall(true);
    if (e.originator === 'remote') {
      phone.incomingVideo = offersVideo(e.request);
      el.incomingFrom.textContent = peer;
      el.incoming.hidden = false;
      if (!el.peer.value) el.peer.value = peer;
      show(el.call, 'incoming', `Incoming call from ${peer}${phone.incomingVideo ? ' (video)' : ''}`);
    }
  }

  async function call(event) {
    event.preventDefault();
    if (phone.session) return;
    const target = targetOf(el.peer.value);
    if (!target) {
      show(el.call, 'failed', 'Type a number or a sip: address to call');
      return;
    }
    const video = el.withVideo.checked;
    show(el.call, 'calling', `Calling ${display(target)}…`);
    let stream;
    try {
      stream = await localMedia(video);
    } catch (error) {
      show(el.call, 'failed', `Cannot use the microphone: ${error.message}`);
      return;
    }
    phone.ua.call(target, {
      mediaStream: stream,
      pcConfig: PC_CONFIG,
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: video },
    });
  }

  async function answer() {
    const session = phone.session;
    if (!session || session.direction !== 'incoming') return;
    el.incoming.hidden = true;
    show(el.call, 'calling', 'Answering…');
    try {
      const stream = await localMedia(phone.incomingVideo);
      session.answer({ mediaStream: stream, pcConfig: PC_CONFIG });
    } catch (error) {
      session.terminate({ status_code: 488, reason_phrase: 'Not Acceptable Here' });
      show(el.call, 'failed', `Cannot use the microphone: ${error.message}`);
    }
  }

  function toggle(button, kind, on, off) {
    const session = phone.session;
    if (!session) return;
    const muted = session.isMuted()[kind];
    if (muted) session.unmute({ [kind]: true });
    else session.mute({ [kind]: true });
    button.setAttribute('aria-pressed', String(!muted));
    button.textContent = muted ? on : off;
  }

  // ---- chat ----

  function addMessage(direction, who, text) {
    const item = document.createElement('li');
    item.className = direction;
    const label = document.createElement('span');
    label.className = 'who';
    label.textContent = direction === 'in' ? `${who}:` : `to ${who}:`;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    item.dataset.peer = who;
    item.append(label, body);
    el.messages.append(item);
    el.messages.scrollTop = el.messages.scrollHeight;
    return item;
  }

  function sendChat(event) {
    event.preventDefault();
    const text = el.chatText.value.trim();
    if (!text) return;
    const target = targetOf(el.peer.value);
    if (!target) {
      addMessage('failed', 'nobody', 'Type the number to write to in the field above first.');
      return;
    }
    const item = addMessage('out', display(target), text);
    item.classList.add('pending');
    el.chatText.value = '';
    phone.ua.sendMessage(target, text, {
      eventHandlers: {
        succeeded: () => item.classList.replace('pending', 'delivered'),
        failed: (e) => {
          item.classList.replace('pending', 'failed');
          const note = document.createElement('span');
          note.className = 'note';
          note.textContent = ` (not delivered: ${e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause})`;
          item.append(note);
        },
      },
    });
  }

  function onMessage(e) {
    if (e.originator !== 'remote') return;
    const from = display(e.request.from.uri.toString());
    if (!el.peer.value) el.peer.value = from;
    addMessage('in', from, e.request.body || '');
  }

  // ---- credentials and registration ----

  /** The challenges of a 401/407 whose algorithm is MD5 (or unnamed, which means MD5), or undefined when there are no others. */
  function md5Only(text) {
    if (typeof text !== 'string' || !/^SIP\/2\.0 40[17] /.test(text)) return text;
    const end = text.indexOf('\r\n\r\n');
    const head = (end < 0 ? text : text.slice(0, end)).split('\r\n');
    const isChallenge = (line) => /^(?:www|proxy)-authenticate\s*:/i.test(line);
    const isMd5 = (line) => {
      const m = /algorithm\s*=\s*"?([^\s,"]+)/i.exec(line);
      return !m || m[1].toUpperCase() === 'MD5';
    };
    const challenges = head.filter(isChallenge);
    if (challenges.length < 2 || !challenges.some(isMd5)) return text;
    return head.filter((line) => !isChallenge(line) || isMd5(line)).join('\r\n') + (end < 0 ? '' : text.slice(end));
  }

  /**
   * JsSIP 3.13 keeps only the last WWW-Authenticate (or Proxy-Authenticate) header of a response
   * (its parser sets them instead of adding) and answers MD5 only; a registrar that offers several
   * algorithms (RFC 8760 §2.4: MD5, then SHA-256) would leave it with a challenge it refuses.
   * Drop the other algorithms' challenges before JsSIP parses the message.
   */
  function keepMd5Challenges(socket) {
    let handler = null;
    Object.defineProperty(socket, 'ondata', {
      configurable: true,
      get: () => handler,
      set: (h) => {
        handler = typeof h === 'function' ? (data) => h(md5Only(data)) : h;
      },
    });
    return socket;
  }

  async function credentials() {
    const res = await fetch(cfg.credentials, { method: 'POST', headers: { 'x-csrf-token': cfg.csrf }, credentials: 'same-origin' });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      const error = new Error(body.message || `HTTP ${res.status}`);
      error.status = res.status;
      throw error;
    }
    return res.json();
  }

  let renewal;
  function renewIn(seconds) {
    clearTimeout(renewal);
    renewal = setTimeout(renew, seconds * 1000);
  }

  /** Fetches the next token; JsSIP answers the next challenge (the next REGISTER refresh) with it. */
  async function renew() {
    try {
      const c = await credentials();
      phone.ua.set('password', c.password);
      renewIn(c.renew_in);
      // A registration refused with an expired token (the page slept) is tried again with the new one.
      if (!phone.registered && phone.ua.isConnected()) phone.ua.register();
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        show(el.reg, 'failed', `The phone cannot renew its credentials (${error.message}); it stops working within minutes.`);
        return;
      }
      console.warn('softphone: renewing the credentials failed, trying again', error);
      renewIn(RETRY_RENEWAL_S);
    }
  }

  function start(c) {
    let connected = false;
    const ua = new JsSIP.UA({
      sockets: [keepMd5Challenges(new JsSIP.WebSocketInterface(cfg.wsUrl))],
      uri: c.uri,
      authorization_user: c.username,
      password: c.password,
      register: true,
      register_expires: 300,
      session_timers: false,
      user_agent: 'Tidewater softphone (JsSIP)',
    });
    phone.ua = ua;
    phone.renew = renew;
    ua.on('connecting', () => {
      if (!phone.registered) show(el.reg, 'connecting', `Connecting to ${cfg.wsUrl}…`);
    });
    ua.on('connected', () => {
      connected = true;
      show(el.reg, 'connecting', 'Connected; registering…');
    });
    ua.on('disconnected', () => {
      setRegistered(false);
      const page = cfg.wsUrl.replace(/^wss:/i, 'https:');
      const hint = connected || !/^https:/i.test(page) ? '' : ` If the server's certificate is self-signed, open ${page} once in this browser and accept it.`;
      show(el.reg, 'disconnected', `Not connected to ${cfg.wsUrl}; trying again.${hint}`);
    });
    ua.on('registered', () => {
      setRegistered(true);
      show(el.reg, 'registered', `Registered: calls to ${cfg.number} ring here`);
    });
    ua.on('unregistered', () => {
      setRegistered(false);
      show(el.reg, 'unregistered', 'Not registered');
    });
    ua.on('registrationFailed', (e) => {
      setRegistered(false);
      const why = e.response ? `${e.response.status_code} ${e.response.reason_phrase}` : e.cause;
      show(el.reg, 'failed', `Registration failed: ${why}`);
    });
    ua.on('newRTCSession', onNewSession);
    ua.on('newMessage', onMessage);
    ua.start();
    renewIn(c.renew_in);
  }

  el.dial.addEventListener('submit', call);
  el.answer.addEventListener('click', answer);
  el.decline.addEventListener('click', () => phone.session && phone.session.terminate({ status_code: 486, reason_phrase: 'Busy Here' }));
  el.hangup.addEventListener('click', () => phone.session && phone.session.terminate());
  el.mute.addEventListener('click', () => toggle(el.mute, 'audio', 'Mute', 'Unmute'));
  el.camera.addEventListener('click', () => toggle(el.camera, 'video', 'Stop video', 'Start video'));
  el.chat.addEventListener('submit', sendChat);
  window.addEventListener('pagehide', () => phone.ua && phone.ua.stop());

  if (typeof JsSIP === 'undefined') {
    show(el.reg, 'failed', 'The SIP library (/static/jssip.min.js) did not load: the phone cannot start.');
    return;
  }
  JsSIP.debug.disable('JsSIP:*');
  show(el.reg, 'starting', 'Getting SIP credentials from the portal…');
  credentials().then(start, (error) => show(el.reg, 'failed', `Could not get SIP credentials: ${error.message}`));
})();
