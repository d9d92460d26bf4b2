// FROST peer benchmark: @noble/curves 2.4.0 (pure JS), all parties in one process.
//
// Usage: node bench.mjs [runs=30] [warmup=5]
//
// Per suite, two scenarios are timed (median over `runs`, after `warmup` untimed runs):
//   dkg  - full 3-of-5 DKG among 5 parties: round1 (polynomial + proof of knowledge),
//          round2 (PoK verification + share generation), round3 (share verification +
//          key package) for every party; ends with all 5 key packages + group public key.
//   sign - 3-of-5 signing of a random 32-byte message: commit for 3 signers, signShare,
//          verifyShare for every share, aggregate, and a final single-signer verification
//          of the aggregated signature (throws if it does not verify).
// Prints exactly one JSON document on stdout.
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import * as edMod from '@noble/curves/ed25519.js';
import * as secpMod from '@noble/curves/secp256k1.js';

const PEER = '@noble/curves 2.4.0';
const N = 5; // participants
const T = 3; // threshold
const SIGNERS = [0, 1, 2]; // indices of the parties that sign (any 3 of 5 cost the same)

const runs = parseInt(process.argv[2] ?? '30', 10);
const warmup = parseInt(process.argv[3] ?? '5', 10);
if (!(runs > 0) || !(warmup >= 0)) {
  console.error('usage: node bench.mjs [runs=30] [warmup=5]');
  process.exit(2);
}

const hex = (b) => Buffer.from(b).toString('hex');

// Suites: our name -> library export + final single-signer verifier (sig, msg, groupPubKey).
// Where the aggregated signature is a standard signature we verify it with the plain
// single-signer scheme (RFC 8032 Ed25519, BIP340); plain RFC 9591 secp256k1 has no such
// scheme, so its own frost.verify is used.
const SUITES = [
  {
    name: 'frost-ed25519',
    exportName: 'ed25519_FROST',
    frost: edMod.ed25519_FROST,
    verifier: 'ed25519.verify (RFC 8032, zip215 default)',
    verify: (sig, msg, pk) => edMod.ed25519.verify(sig, msg, pk),
  },
  {
    name: 'frost-secp256k1',
    exportName: 'secp256k1_FROST',
    frost: secpMod.secp256k1_FROST,
    verifier: 'secp256k1_FROST.verify (RFC 9591 single-signer Schnorr)',
    verify: (sig, msg, pk) => secpMod.secp256k1_FROST.verify(sig, msg, pk),
  },
  {
    name: 'frost-taproot',
    exportName: 'schnorr_FROST',
    frost: secpMod.schnorr_FROST,
    verifier: 'schnorr.verify (BIP340) against the x-only group key',
    // Group key is a 33-byte compressed point (already Taproot-tweaked by the DKG); BIP340 wants x-only.
    verify: (sig, msg, pk) => secpMod.schnorr.verify(sig, msg, pk.subarray(1)),
  },
];

// Full DKG among N parties; returns each party's key package ({public, secret}).
function dkg(frost, ids) {
  const signers = { min: T, max: N };
  // Round 1: every party samples its polynomial and a proof of knowledge.
  const r1 = ids.map((id) => frost.DKG.round1(id, signers));
  const r1pub = r1.map((r) => r.public);
  const othersR1 = (i) => r1pub.filter((_, j) => j !== i);
  // Round 2: every party verifies the others' PoKs and computes a share for each of them.
  // Result per sender: { [receiverId]: { identifier: senderId, signingShare } }.
  const r2 = r1.map((r, i) => frost.DKG.round2(r.secret, othersR1(i)));
  // Round 3: every party verifies received shares against commitments and builds its key package.
  const keys = r1.map((r, i) => {
    const received = r2.filter((_, j) => j !== i).map((out) => out[ids[i]]);
    return frost.DKG.round3(r.secret, othersR1(i), received);
  });
  // All parties must agree on the group public key.
  const gpk = hex(keys[0].public.commitments[0]);
  for (const k of keys)
    if (hex(k.public.commitments[0]) !== gpk) throw new Error('DKG: group public keys differ');
  return keys;
}

// One T-of-N signing session with verification of every share and of the final signature.
function sign(suite, keys, msg) {
  const { frost } = suite;
  const parties = SIGNERS.map((i) => keys[i]);
  const pub = parties[0].public;
  // Round 1: nonce commitments.
  const gen = parties.map((k) => frost.commit(k.secret));
  const commitmentList = gen.map((g) => g.commitments);
  // Round 2: signature shares.
  const shares = {};
  parties.forEach((k, i) => {
    shares[k.secret.identifier] = frost.signShare(k.secret, k.public, gen[i].nonces, commitmentList, msg);
  });
  // Coordinator: verify each share, aggregate, verify the final signature.
  for (const id in shares)
    if (!frost.verifyShare(pub, commitmentList, msg, id, shares[id]))
      throw new Error(`${suite.name}: invalid signature share from ${id}`);
  const sig = frost.aggregate(pub, commitmentList, msg, shares);
  if (!suite.verify(sig, msg, pub.commitments[0]))
    throw new Error(`${suite.name}: aggregated signature does not verify`);
  return sig;
}

// Median (ms) of `runs` timed calls of fn, after `warmup` untimed calls.
function bench(fn) {
  for (let i = 0; i < warmup; i++) fn();
  const t = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  const m = t.length >> 1;
  const med = t.length % 2 ? t[m] : (t[m - 1] + t[m]) / 2;
  return Math.round(med * 1000) / 1000;
}

const results = {};
const notes = {
  scenario: `${T}-of-${N} DKG among ${N} parties; ${T}-of-${N} signing of a random 32-byte message`,
  timing: `median of ${runs} runs after ${warmup} warmup runs, performance.now(), single process`,
  warmup,
  node: process.version,
  suites: {},
};

for (const suite of SUITES) {
  const { frost } = suite;
  if (!frost) {
    results[suite.name] = { dkg_ms: null, sign_ms: null };
    notes.suites[suite.name] = `${suite.exportName} is not exported by ${PEER}`;
    continue;
  }
  const ids = Array.from({ length: N }, (_, i) => frost.Identifier.fromNumber(i + 1));
  const note = { export: suite.exportName, final_verify: suite.verifier };
  let dkgMs = null;
  let keys;
  if (frost.DKG && typeof frost.DKG.round1 === 'function') {
    dkgMs = bench(() => dkg(frost, ids));
    keys = dkg(frost, ids);
  } else {
    // No DKG API: signing still benchmarked, on trusted-dealer keys (not timed as DKG).
    note.dkg = 'DKG API not available for this suite; dkg_ms is null, signing uses trustedDealer keys';
    const deal = frost.trustedDealer({ min: T, max: N }, ids);
    keys = ids.map((id) => ({ public: deal.public, secret: deal.secretShares[id] }));
  }
  const signMs = bench(() => sign(suite, keys, randomBytes(32)));
  results[suite.name] = { dkg_ms: dkgMs, sign_ms: signMs };
  notes.suites[suite.name] = note;
}

process.stdout.write(JSON.stringify({ peer: PEER, runs, results, notes }) + '\n');
