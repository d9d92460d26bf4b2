// DKLs23 threshold ECDSA peer benchmark: Silence Laboratories'
// @silencelaboratories/dkls-wasm-ll-node 1.1.2 (WASM), all parties in one process.
//
// Usage: node bench.mjs [runs=5] [warmup=1]
//
// Scenarios (3-of-5 on secp256k1; median over `runs` after `warmup` untimed runs):
//   keygen  - full DKG of all 5 parties: createFirstMessage, the three handleMessages
//             rounds, calculateChainCodeCommitment, the final handleMessages and keyshare().
//   presign - 3 signers: new SignSession(keyshare, "m"), createFirstMessage and the three
//             message-independent handleMessages rounds (ends holding a presignature).
//   online  - lastMessage(hash) for the 3 signers + combine() by each of the 3 signers.
//   sign    - presign + online of the same run (median of the per-run sums).
//   refresh - key rotation (KeygenSession.initKeyRotation) of all 5 parties, all rounds;
//             checks that the public key is unchanged.
// Every signature is verified with @noble/curves secp256k1 (prehash: false) on a random
// 32-byte digest; any failure throws. Prints exactly one JSON document on stdout.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import dkls from '@silencelaboratories/dkls-wasm-ll-node';
import { secp256k1 } from '@noble/curves/secp256k1.js';

const { KeygenSession, Keyshare, SignSession } = dkls;

const PEER = '@silencelaboratories/dkls-wasm-ll-node 1.1.2';
const N = 5; // participants
const T = 3; // threshold = number of signers
const CHAIN_PATH = 'm'; // no BIP32 derivation: sign with the root key

const runs = parseInt(process.argv[2] ?? '5', 10);
const warmup = parseInt(process.argv[3] ?? '1', 10);
if (!(runs > 0) || !(warmup >= 0)) {
  console.error('usage: node bench.mjs [runs=5] [warmup=1]');
  process.exit(2);
}

const hex = (b) => Buffer.from(b).toString('hex');

// ---------------------------------------------------------------------------------------
// Message routing. handleMessages()/combine() CONSUME the Message objects passed to them
// (the wasm glue calls Message.__unwrap on every element), so a broadcast message must be
// cloned once per recipient; the original is freed afterwards. P2P messages go to exactly
// one party and are handed over as they are.

// Broadcast round: every party gets a clone of each message sent by the other parties.
function broadcastTo(msgs, partyId) {
  return msgs.filter((m) => m.from_id !== partyId).map((m) => m.clone());
}
// P2P round: every party gets the messages addressed to it (moved, not cloned). Messages
// are grouped by to_id first, because a consumed Message can no longer be read (its getters
// throw "null pointer passed to rust").
function p2pInbox(msgs) {
  const inbox = new Map();
  for (const m of msgs) {
    const to = m.to_id;
    if (!inbox.has(to)) inbox.set(to, []);
    inbox.get(to).push(m);
  }
  return (partyId) => inbox.get(partyId) ?? [];
}
function freeAll(msgs) {
  for (const m of msgs) m.free();
}
function checkP2P(msgs, ids, round) {
  for (const m of msgs) {
    if (m.to_id === undefined || !ids.includes(m.to_id) || m.to_id === m.from_id)
      throw new Error(`${round}: unexpected P2P message ${m.from_id} -> ${m.to_id}`);
  }
  const want = ids.length * (ids.length - 1);
  if (msgs.length !== want) throw new Error(`${round}: ${msgs.length} P2P messages, expected ${want}`);
}

// ---------------------------------------------------------------------------------------
// DKG / key rotation. `sessions[i]` belongs to party id i (0..N-1). Returns the keyshares
// (sessions are consumed by keyshare()).
function runKeygen(sessions) {
  const ids = sessions.map((_, i) => i);
  // R1: broadcast.
  const m1 = sessions.map((s) => s.createFirstMessage());
  // R2: P2P, produced from the others' R1.
  const m2 = sessions.flatMap((s, i) => s.handleMessages(broadcastTo(m1, i)));
  freeAll(m1);
  checkP2P(m2, ids, 'keygen r2');
  // Side step: chain-code commitments (one extra broadcast in a real deployment).
  const commitments = sessions.map((s) => s.calculateChainCodeCommitment());
  // R3: P2P, produced from R2 addressed to me.
  const to2 = p2pInbox(m2);
  const m3 = sessions.flatMap((s, i) => s.handleMessages(to2(i)));
  checkP2P(m3, ids, 'keygen r3');
  // R4: broadcast, produced from R3 addressed to me plus all chain-code commitments.
  const to3 = p2pInbox(m3);
  const m4 = sessions.flatMap((s, i) => s.handleMessages(to3(i), commitments));
  if (m4.length !== N || m4.some((m) => m.to_id !== undefined))
    throw new Error('keygen r4: expected one broadcast message per party');
  // Final: handle the others' R4, then extract the keyshares.
  sessions.forEach((s, i) => {
    const out = s.handleMessages(broadcastTo(m4, i));
    if (out.length !== 0) throw new Error('keygen: unexpected messages after round 4');
  });
  freeAll(m4);
  return sessions.map((s) => s.keyshare());
}

function keygen() {
  return runKeygen(Array.from({ length: N }, (_, i) => new KeygenSession(N, T, i)));
}

// initKeyRotation borrows the old keyshare (it is not consumed).
function refresh(shares) {
  return runKeygen(shares.map((ks) => KeygenSession.initKeyRotation(ks)));
}

function checkShares(shares, expectPk) {
  const pk = hex(shares[0].publicKey);
  shares.forEach((ks, i) => {
    if (ks.partyId !== i) throw new Error(`keyshare ${i} has partyId ${ks.partyId}`);
    if (ks.participants !== N || ks.threshold !== T) throw new Error('keyshare: wrong (n, t)');
    if (hex(ks.publicKey) !== pk) throw new Error('keyshares disagree on the public key');
  });
  if (shares[0].publicKey.length !== 33) throw new Error('public key is not 33 bytes');
  if (expectPk !== undefined && pk !== expectPk) throw new Error('refresh changed the public key');
  return pk;
}

// ---------------------------------------------------------------------------------------
// Signing. `keyshares` are fresh Keyshare objects for the signers (consumed by SignSession).
// Signing messages are routed by keyshare partyId (0..N-1), not by index in the signer set.
function presign(keyshares) {
  const ids = keyshares.map((ks) => ks.partyId);
  const sessions = keyshares.map((ks) => new SignSession(ks, CHAIN_PATH));
  // R1: broadcast.
  const m1 = sessions.map((s) => s.createFirstMessage());
  // R2: P2P.
  const m2 = sessions.flatMap((s, k) => s.handleMessages(broadcastTo(m1, ids[k])));
  freeAll(m1);
  checkP2P(m2, ids, 'sign r2');
  // R3: P2P.
  const to2 = p2pInbox(m2);
  const m3 = sessions.flatMap((s, k) => s.handleMessages(to2(ids[k])));
  checkP2P(m3, ids, 'sign r3');
  // Handle R3: each session now holds a presignature; nothing is sent.
  const to3 = p2pInbox(m3);
  sessions.forEach((s, k) => {
    const out = s.handleMessages(to3(ids[k]));
    if (out.length !== 0) throw new Error('sign: unexpected messages after round 3');
  });
  return { ids, sessions };
}

// Online round: lastMessage (broadcast, never twice per presignature) + combine.
// combine() consumes the session; every signer computes (and internally verifies) [r, s].
function online({ ids, sessions }, digest) {
  const m4 = sessions.map((s) => s.lastMessage(digest));
  const sigs = sessions.map((s, k) => s.combine(broadcastTo(m4, ids[k])));
  freeAll(m4);
  return sigs;
}

// Independent check with noble; not timed.
function verifySigs(sigs, digest, pk) {
  const pkBytes = Buffer.from(pk, 'hex');
  const first = hex(Buffer.concat([sigs[0][0], sigs[0][1]]));
  for (const [r, s] of sigs) {
    if (r.length !== 32 || s.length !== 32) throw new Error('signature parts are not 32 bytes');
    const sig = Buffer.concat([r, s]);
    if (hex(sig) !== first) throw new Error('signers produced different signatures');
    // lowS: true (noble's default) also checks that the library returns normalised low-S.
    if (!secp256k1.verify(sig, digest, pkBytes, { prehash: false, lowS: true }))
      throw new Error(`signature does not verify: ${hex(sig)} digest ${hex(digest)}`);
  }
  // Guard against a vacuous check: the same signature must fail for a different digest.
  const other = Uint8Array.from(digest);
  other[0] ^= 1;
  if (secp256k1.verify(Buffer.from(first, 'hex'), other, pkBytes, { prehash: false, lowS: true }))
    throw new Error('signature verifies for a different digest');
}

// All 3-of-5 signer subsets, cycled through across runs.
const SUBSETS = [];
for (let a = 0; a < N; a++)
  for (let b = a + 1; b < N; b++) for (let c = b + 1; c < N; c++) SUBSETS.push([a, b, c]);

// One signing run: rebuild the signers' keyshares from bytes (untimed: SignSession consumes
// the keyshare), presign, online, verify.
let subsetCursor = 0;
function signOnce(shareBytes, pk) {
  const subset = SUBSETS[subsetCursor++ % SUBSETS.length];
  const keyshares = subset.map((i) => Keyshare.fromBytes(shareBytes[i]));
  const digest = new Uint8Array(randomBytes(32));
  const t0 = performance.now();
  const pre = presign(keyshares);
  const t1 = performance.now();
  const sigs = online(pre, digest);
  const t2 = performance.now();
  verifySigs(sigs, digest, pk);
  return { subset, presign: t1 - t0, online: t2 - t1, sign: t2 - t0 };
}

// ---------------------------------------------------------------------------------------
function median(xs) {
  const t = [...xs].sort((a, b) => a - b);
  const m = t.length >> 1;
  const med = t.length % 2 ? t[m] : (t[m - 1] + t[m]) / 2;
  return Math.round(med * 1000) / 1000;
}
const time = (fn) => {
  const t0 = performance.now();
  const out = fn();
  return [performance.now() - t0, out];
};
const freeShares = (shares) => shares.forEach((ks) => ks.free());

// keygen
const keygenMs = [];
let shares;
for (let i = 0; i < warmup + runs; i++) {
  const [ms, out] = time(keygen);
  checkShares(out);
  if (i >= warmup) keygenMs.push(ms);
  if (shares) freeShares(shares);
  shares = out;
}
const pk = checkShares(shares);
const shareBytes = shares.map((ks) => ks.toBytes());
const keyshareBytes = shareBytes[0].length;
const keyshareBytesAll = shareBytes.map((b) => b.length);

// presign / online / sign
const presignMs = [];
const onlineMs = [];
const signMs = [];
const subsetsUsed = [];
for (let i = 0; i < warmup + runs; i++) {
  const r = signOnce(shareBytes, pk);
  if (i < warmup) continue;
  presignMs.push(r.presign);
  onlineMs.push(r.online);
  signMs.push(r.sign);
  subsetsUsed.push(r.subset.join(''));
}

// refresh (key rotation); each run rotates the shares produced by the previous one.
const refreshMs = [];
for (let i = 0; i < warmup + runs; i++) {
  const [ms, out] = time(() => refresh(shares));
  checkShares(out, pk);
  const oldBytes = shares.map((ks) => hex(ks.toBytes()));
  if (out.some((ks, j) => hex(ks.toBytes()) === oldBytes[j])) throw new Error('refresh did not change a keyshare');
  if (i >= warmup) refreshMs.push(ms);
  freeShares(shares);
  shares = out;
}
// The rotated shares must still sign under the same public key (untimed check).
signOnce(shares.map((ks) => ks.toBytes()), pk);
freeShares(shares);

const results = {
  'ecdsa-secp256k1': {
    keygen_ms: median(keygenMs),
    presign_ms: median(presignMs),
    online_ms: median(onlineMs),
    sign_ms: median(signMs),
    refresh_ms: median(refreshMs),
    keyshare_bytes: keyshareBytes,
  },
};
const notes = {
  scenario: `${T}-of-${N} DKLs23 on secp256k1; keygen and refresh with all ${N} parties, signing with ${T} parties`,
  timing: `median of ${runs} runs after ${warmup} warmup runs, performance.now(), all parties sequentially in one process, messages passed in memory (no network, no encryption)`,
  warmup,
  node: process.version,
  keygen: 'new KeygenSession(5, 3, id) x5, createFirstMessage, 3x handleMessages + calculateChainCodeCommitment, final handleMessages, keyshare()',
  presign: 'new SignSession(keyshare, "m") x3 (keyshare rebuilt from bytes beforehand, untimed), createFirstMessage, 3 handleMessages rounds -> presignature',
  online: 'lastMessage(digest) x3 + combine() x3 (each signer combines; combine verifies the signature internally)',
  sign_ms: 'median of per-run presign+online sums',
  refresh: 'KeygenSession.initKeyRotation(oldKeyshare) x5, same 4 rounds as keygen; public key checked unchanged, every keyshare checked changed, and the rotated shares sign once (verified)',
  keyshare_bytes: 'Keyshare.toBytes().length of party 0 after keygen',
  keyshare_bytes_all_parties: keyshareBytesAll,
  signer_subsets: subsetsUsed,
  verify: '@noble/curves 2.4.0 secp256k1.verify(r||s, digest, pk, {prehash:false, lowS:true}); random 32-byte digest per run; all signers must output the same signature',
  public_key: pk,
};

process.stdout.write(JSON.stringify({ peer: PEER, runs, results, notes }) + '\n');
