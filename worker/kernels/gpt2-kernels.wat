;; GPT-2 kernels: LM head (int8 / f32 weights), causal attention over a resident KV cache,
;; the KV append, and the dense layers of int8 models. Hand-written WAT: baseline WASM SIMD (v128) plus one
;; relaxed-simd instruction (i32x4.relaxed_dot_i8x16_i7x16_add_s, used where it is deterministic); no threads.
;; Build: `npx tsx scripts/kernels/build.ts` (wabt) → gpt2-kernels.wasm, committed next to this file.
;;
;; Every pointer is a byte offset into the exported memory; every buffer is owned by the caller (the JS
;; allocator in kernels.ts). The module keeps no state and no static data: all of memory is the heap.
;; Unaligned v128 loads are legal in WASM; 16-byte aligned buffers are merely faster.
(module
  (memory (export "memory") 1 65536)

  ;; ---------------------------------------------------------------------------------------------
  ;; Horizontal sums. Called once per output, never inside an inner loop.
  (func $hsum_i32 (param $a v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $a)) (i32x4.extract_lane 1 (local.get $a)))
      (i32.add (i32x4.extract_lane 2 (local.get $a)) (i32x4.extract_lane 3 (local.get $a)))))

  (func $hsum_f32 (param $a v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
      (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))

  ;; ---------------------------------------------------------------------------------------------
  ;; head_f32: out[r*V+v] = Σ_e x[r*E+e] * w[v*E+e]
  ;;   x f32 [rows, E], w f32 [V, E] row-major, out f32 [rows, V]. Requires E % 4 == 0.
  ;; Four vocab rows per x load, the rows loop inside.
  (func (export "head_f32")
    (param $x i32) (param $rows i32) (param $w i32) (param $V i32) (param $E i32) (param $out i32)
    (local $r i32) (local $v i32) (local $V4 i32) (local $rowB i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $end i32) (local $xp i32)
    (local $xv v128) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $o i32)
    (if (i32.eqz (local.get $rows)) (then (return)))
    (local.set $rowB (i32.shl (local.get $E) (i32.const 2)))
    (local.set $V4 (i32.and (local.get $V) (i32.const -4)))
    (local.set $v (i32.const 0))
    (block $groups_done
      (loop $groups
        (br_if $groups_done (i32.ge_u (local.get $v) (local.get $V4)))
        (local.set $r (i32.const 0))
        (loop $rows4
          (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $v) (local.get $rowB))))
          (local.set $p1 (i32.add (local.get $p0) (local.get $rowB)))
          (local.set $p2 (i32.add (local.get $p1) (local.get $rowB)))
          (local.set $p3 (i32.add (local.get $p2) (local.get $rowB)))
          (local.set $end (i32.add (local.get $p0) (local.get $rowB)))
          (local.set $xp (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rowB))))
          (local.set $a0 (v128.const f32x4 0 0 0 0))
          (local.set $a1 (v128.const f32x4 0 0 0 0))
          (local.set $a2 (v128.const f32x4 0 0 0 0))
          (local.set $a3 (v128.const f32x4 0 0 0 0))
          (loop $dot4
            (local.set $xv (v128.load (local.get $xp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $xv) (v128.load (local.get $p0)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $xv) (v128.load (local.get $p1)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $xv) (v128.load (local.get $p2)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $xv) (v128.load (local.get $p3)))))
            (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
            (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
            (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
            (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
            (br_if $dot4 (i32.lt_u (local.get $p0) (local.get $end))))
          (local.set $o (i32.add (local.get $out)
            (i32.shl (i32.add (i32.mul (local.get $r) (local.get $V)) (local.get $v)) (i32.const 2))))
          (f32.store (local.get $o) (call $hsum_f32 (local.get $a0)))
          (f32.store offset=4 (local.get $o) (call $hsum_f32 (local.get $a1)))
          (f32.store offset=8 (local.get $o) (call $hsum_f32 (local.get $a2)))
          (f32.store offset=12 (local.get $o) (call $hsum_f32 (local.get $a3)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rows4 (i32.lt_u (local.get $r) (local.get $rows))))
        (local.set $v (i32.add (local.get $v) (i32.const 4)))
        (br $groups)))
    ;; tail: the last V % 4 vocab rows
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $v) (local.get $V)))
        (local.set $r (i32.const 0))
        (loop $rows1
          (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $v) (local.get $rowB))))
          (local.set $end (i32.add (local.get $p0) (local.get $rowB)))
          (local.set $xp (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $rowB))))
          (local.set $a0 (v128.const f32x4 0 0 0 0))
          (loop $dot1
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $xp)) (v128.load (local.get $p0)))))
            (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
            (br_if $dot1 (i32.lt_u (local.get $p0) (local.get $end))))
          (f32.store
            (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $V)) (local.get $v)) (i32.const 2)))
            (call $hsum_f32 (local.get $a0)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rows1 (i32.lt_u (local.get $r) (local.get $rows))))
        (local.set $v (i32.add (local.get $v) (i32.const 1)))
        (br $tail))))

  ;; ---------------------------------------------------------------------------------------------
  ;; exp of four f32 lanes, x ≤ 0 (the softmax's s - max): x = n·ln2 + r with |r| ≤ ln2/2 (ln2 split in
  ;; two for an exact n·ln2_hi), e^r by its Taylor series to r^6 (truncation ≤ 0.347^7/7! = 1.2e-7
  ;; relative), 2^n put in the exponent bits. Relative error ≤ 3e-7 in f32 (test/unit/kernels); lanes
  ;; below -87.3 (where 2^n would leave the normal range) give 0 — e^-87.3 is 1.2e-38 anyway. In a
  ;; prefill the softmax runs past+i exps per query per head, hence four lanes, no f64, no calls out.
  (func $exp4 (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128) (local $ok v128)
    (local.set $ok (f32x4.ge (local.get $x) (f32x4.splat (f32.const -87.3))))
    (local.set $x (f32x4.max (local.get $x) (f32x4.splat (f32.const -87.3))))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504)))))
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) (f32x4.splat (f32.const 0.693359375)))))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) (f32x4.splat (f32.const -2.12194440e-4)))))
    ;; Horner: 1 + r(1 + r(1/2 + r(1/6 + r(1/24 + r(1/120 + r/720)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.008333333)) (f32x4.mul (local.get $r) (f32x4.splat (f32.const 0.0013888889)))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.041666668)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.16666667)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 0.5)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $r) (local.get $p))))
    (local.set $p (f32x4.add (f32x4.splat (f32.const 1)) (f32x4.mul (local.get $r) (local.get $p))))
    (v128.and (local.get $ok)
      (f32x4.mul (local.get $p)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (i32x4.splat (i32.const 127))) (i32.const 23)))))

  ;; exp4 over n floats (n a multiple of 4) from src to dst: for the tests of $exp4's error bound.
  (func (export "exp4_array") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (v128.store (local.get $dst) (call $exp4 (v128.load (local.get $src))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $l))))

  ;; $v if $v > $s, else $s (a NaN $v never wins)
  (func $gt_or (param $v f32) (param $s f32) (result f32)
    (select (local.get $v) (local.get $s) (f32.gt (local.get $v) (local.get $s))))

  ;; row_max: max over x f32 [n] (-inf when n = 0 or every entry is -inf). NaN entries are passed over, as
  ;; logits.ts expSumJs's `if (x > max)` does: pmax and the scalar compare keep the current max against a NaN.
  (func (export "row_max") (param $x i32) (param $n i32) (result f32)
    (local $m v128) (local $end i32) (local $e4 i32) (local $s f32)
    (local.set $m (f32x4.splat (f32.const -inf)))
    (local.set $e4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $e4)))
        (local.set $m (f32x4.pmax (local.get $m) (v128.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $l)))
    (local.set $s (f32x4.extract_lane 0 (local.get $m)))
    (local.set $s (call $gt_or (f32x4.extract_lane 1 (local.get $m)) (local.get $s)))
    (local.set $s (call $gt_or (f32x4.extract_lane 2 (local.get $m)) (local.get $s)))
    (local.set $s (call $gt_or (f32x4.extract_lane 3 (local.get $m)) (local.get $s)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $s (call $gt_or (f32.load (local.get $x)) (local.get $s)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $tail)))
    (local.get $s))

  ;; exp_sum: the softmax's weights and their sum for one logits row (generation/logits.ts expSum):
  ;; w f64 [n] = $exp4(x[i] - max) (x - max in f32; -inf entries give 0) and Σ w in a fixed order — four
  ;; f64 partial sums, lane j over i ≡ j (mod 4) for i < n & ~3, combined as (s0 + s1) + (s2 + s3), then the
  ;; last n % 4 added in index order. logits.ts redoes exactly this in JS, so either gives the same bits.
  (func (export "exp_sum") (param $x i32) (param $n i32) (param $max f32) (param $w i32) (result f64)
    (local $e v128) (local $lo v128) (local $hi v128) (local $s01 v128) (local $s23 v128) (local $mx v128)
    (local $end i32) (local $e4 i32) (local $t f64) (local $s f64)
    (local.set $mx (f32x4.splat (local.get $max)))
    (local.set $e4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $e4)))
        (local.set $e (call $exp4 (f32x4.sub (v128.load (local.get $x)) (local.get $mx))))
        (local.set $lo (f64x2.promote_low_f32x4 (local.get $e)))
        (local.set $hi (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e))))
        (v128.store (local.get $w) (local.get $lo))
        (v128.store offset=16 (local.get $w) (local.get $hi))
        (local.set $s01 (f64x2.add (local.get $s01) (local.get $lo)))
        (local.set $s23 (f64x2.add (local.get $s23) (local.get $hi)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $w (i32.add (local.get $w) (i32.const 32)))
        (br $l)))
    (local.set $t (f64.add
      (f64.add (f64x2.extract_lane 0 (local.get $s01)) (f64x2.extract_lane 1 (local.get $s01)))
      (f64.add (f64x2.extract_lane 0 (local.get $s23)) (f64x2.extract_lane 1 (local.get $s23)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $s (f64.promote_f32 (f32x4.extract_lane 0
          (call $exp4 (f32x4.splat (f32.sub (f32.load (local.get $x)) (local.get $max)))))))
        (f64.store (local.get $w) (local.get $s))
        (local.set $t (f64.add (local.get $t) (local.get $s)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (i32.const 8)))
        (br $tail)))
    (local.get $t))

  ;; q·k over hd floats (nbytes = hd*4, a multiple of 16)
  (func $dot (param $a i32) (param $b i32) (param $nbytes i32) (result f32)
    (local $acc v128) (local $end i32)
    (local.set $end (i32.add (local.get $a) (local.get $nbytes)))
    (local.set $acc (v128.const f32x4 0 0 0 0))
    (loop $l
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $a)) (v128.load (local.get $b)))))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (local.set $b (i32.add (local.get $b) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $a) (local.get $end))))
    (call $hsum_f32 (local.get $acc)))

  ;; Four scores at once: lane j = q·k_j over hd floats for the keys k_j = k + j*nbytes.
  ;; The four accumulators are reduced together by two rounds of shuffles (a 4×4 transpose-and-add).
  (func $dot4 (param $q i32) (param $k i32) (param $nbytes i32) (result v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128) (local $qv v128)
    (local $k1 i32) (local $k2 i32) (local $k3 i32) (local $end i32)
    (local.set $k1 (i32.add (local.get $k) (local.get $nbytes)))
    (local.set $k2 (i32.add (local.get $k1) (local.get $nbytes)))
    (local.set $k3 (i32.add (local.get $k2) (local.get $nbytes)))
    (local.set $end (i32.add (local.get $q) (local.get $nbytes)))
    (loop $l
      (local.set $qv (v128.load (local.get $q)))
      (local.set $a (f32x4.add (local.get $a) (f32x4.mul (local.get $qv) (v128.load (local.get $k)))))
      (local.set $b (f32x4.add (local.get $b) (f32x4.mul (local.get $qv) (v128.load (local.get $k1)))))
      (local.set $c (f32x4.add (local.get $c) (f32x4.mul (local.get $qv) (v128.load (local.get $k2)))))
      (local.set $d (f32x4.add (local.get $d) (f32x4.mul (local.get $qv) (v128.load (local.get $k3)))))
      (local.set $q (i32.add (local.get $q) (i32.const 16)))
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 16)))
      (local.set $k2 (i32.add (local.get $k2) (i32.const 16)))
      (local.set $k3 (i32.add (local.get $k3) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $q) (local.get $end))))
    ;; ab = (a0+a2, b0+b2, a1+a3, b1+b3), cd likewise; then lanes (a, b, c, d) = Σ of each
    (local.set $a (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $c (f32x4.add
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c))))

  ;; out[0..hd) += Σ_j p_j · v_j for the four value rows v_j = v + j*nbytes (p = 4 softmax weights)
  (func $axpy4 (param $out i32) (param $v i32) (param $nbytes i32) (param $p v128)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128)
    (local $v1 i32) (local $v2 i32) (local $v3 i32) (local $end i32)
    (local.set $p0 (i32x4.splat (i32x4.extract_lane 0 (local.get $p))))
    (local.set $p1 (i32x4.splat (i32x4.extract_lane 1 (local.get $p))))
    (local.set $p2 (i32x4.splat (i32x4.extract_lane 2 (local.get $p))))
    (local.set $p3 (i32x4.splat (i32x4.extract_lane 3 (local.get $p))))
    (local.set $v1 (i32.add (local.get $v) (local.get $nbytes)))
    (local.set $v2 (i32.add (local.get $v1) (local.get $nbytes)))
    (local.set $v3 (i32.add (local.get $v2) (local.get $nbytes)))
    (local.set $end (i32.add (local.get $out) (local.get $nbytes)))
    (loop $l
      (v128.store (local.get $out) (f32x4.add (v128.load (local.get $out))
        (f32x4.add
          (f32x4.add (f32x4.mul (local.get $p0) (v128.load (local.get $v))) (f32x4.mul (local.get $p1) (v128.load (local.get $v1))))
          (f32x4.add (f32x4.mul (local.get $p2) (v128.load (local.get $v2))) (f32x4.mul (local.get $p3) (v128.load (local.get $v3)))))))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (local.set $v1 (i32.add (local.get $v1) (i32.const 16)))
      (local.set $v2 (i32.add (local.get $v2) (i32.const 16)))
      (local.set $v3 (i32.add (local.get $v3) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $out) (local.get $end)))))

  ;; ---------------------------------------------------------------------------------------------
  ;; attend: causal attention for one batch row of one layer.
  ;;   q       f32 [T, H*hd]     new positions past..past+T-1, heads concatenated (GPT-2's split)
  ;;   k, v    f32 [H, cap, hd]  the cache; positions 0..past+T-1 valid (new ones already appended)
  ;;   out     f32 [T, H*hd]
  ;;   scratch f32 [past+T, rounded up to a multiple of 4]  scores, then their exps
  ;; For position i and head h: s[t] = scale·q_i,h·k[h,t] for t ≤ past+i; out = Σ_t softmax(s)[t]·v[h,t].
  ;; Requires hd % 4 == 0, T ≥ 1, H ≥ 1, past+T ≤ cap (checked by the TS wrapper).
  (func (export "attend")
    (param $q i32) (param $T i32) (param $past i32) (param $k i32) (param $v i32) (param $cap i32)
    (param $H i32) (param $hd i32) (param $out i32) (param $scratch i32) (param $scale f32)
    (local $i i32) (local $h i32) (local $t i32) (local $n i32) (local $d i32)
    (local $hdB i32) (local $rowB i32) (local $headB i32)
    (local $qp i32) (local $kp i32) (local $vp i32) (local $op i32) (local $sp i32)
    (local $s f32) (local $mx f32) (local $sum f64) (local $pv v128) (local $sv v128) (local $mv v128) (local $n4 i32)
    (local $acc4 v128)
    (local.set $hdB (i32.shl (local.get $hd) (i32.const 2)))
    (local.set $rowB (i32.mul (local.get $H) (local.get $hdB)))
    (local.set $headB (i32.mul (local.get $cap) (local.get $hdB)))
    (local.set $i (i32.const 0))
    (loop $pos
      (local.set $n (i32.add (i32.add (local.get $past) (local.get $i)) (i32.const 1)))
      (local.set $h (i32.const 0))
      (loop $head
        (local.set $qp (i32.add (i32.add (local.get $q) (i32.mul (local.get $i) (local.get $rowB)))
          (i32.mul (local.get $h) (local.get $hdB))))
        (local.set $op (i32.add (i32.add (local.get $out) (i32.mul (local.get $i) (local.get $rowB)))
          (i32.mul (local.get $h) (local.get $hdB))))
        ;; scores over the n visible keys (the causal mask is just the loop bound), four keys per
        ;; step so each q load feeds four dot products; the last n % 4 keys one at a time
        (local.set $kp (i32.add (local.get $k) (i32.mul (local.get $h) (local.get $headB))))
        (local.set $sv (f32x4.splat (local.get $scale)))
        (local.set $mv (f32x4.splat (f32.const -inf)))
        (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
        (local.set $sp (local.get $scratch))
        (local.set $t (i32.const 0))
        (block $scores4_done
          (loop $scores4
            (br_if $scores4_done (i32.ge_u (local.get $t) (local.get $n4)))
            (local.set $pv (f32x4.mul (local.get $sv) (call $dot4 (local.get $qp) (local.get $kp) (local.get $hdB))))
            (v128.store (local.get $sp) (local.get $pv))
            (local.set $mv (f32x4.max (local.get $mv) (local.get $pv)))
            (local.set $kp (i32.add (local.get $kp) (i32.shl (local.get $hdB) (i32.const 2))))
            (local.set $sp (i32.add (local.get $sp) (i32.const 16)))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (br $scores4)))
        (local.set $mx (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $mv)) (f32x4.extract_lane 1 (local.get $mv)))
          (f32.max (f32x4.extract_lane 2 (local.get $mv)) (f32x4.extract_lane 3 (local.get $mv)))))
        (block $scores1_done
          (loop $scores1
            (br_if $scores1_done (i32.ge_u (local.get $t) (local.get $n)))
            (local.set $s (f32.mul (local.get $scale) (call $dot (local.get $qp) (local.get $kp) (local.get $hdB))))
            (f32.store (local.get $sp) (local.get $s))
            (local.set $mx (f32.max (local.get $mx) (local.get $s)))
            (local.set $kp (i32.add (local.get $kp) (local.get $hdB)))
            (local.set $sp (i32.add (local.get $sp) (i32.const 4)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $scores1)))
        ;; exp(s - max), four at a time ($exp4); lanes past n are masked to 0 (the scratch is sized
        ;; to a multiple of 4), so the sum and the p·v passes below never see them
        (local.set $acc4 (v128.const f32x4 0 0 0 0))
        (local.set $mv (f32x4.splat (local.get $mx)))
        (local.set $sp (local.get $scratch))
        (local.set $t (i32.const 0))
        (loop $exps
          (local.set $pv (call $exp4 (f32x4.sub (v128.load (local.get $sp)) (local.get $mv))))
          (local.set $pv (v128.and (local.get $pv)
            (i32x4.lt_s (i32x4.add (i32x4.splat (local.get $t)) (v128.const i32x4 0 1 2 3)) (i32x4.splat (local.get $n)))))
          (v128.store (local.get $sp) (local.get $pv))
          (local.set $acc4 (f32x4.add (local.get $acc4) (local.get $pv)))
          (local.set $sp (i32.add (local.get $sp) (i32.const 16)))
          (local.set $t (i32.add (local.get $t) (i32.const 4)))
          (br_if $exps (i32.lt_u (local.get $t) (local.get $n))))
        (local.set $sum (f64.promote_f32 (call $hsum_f32 (local.get $acc4))))
        ;; out_i,h = (Σ_t e_t v[h,t]) / Σ e: zero the row, accumulate, normalise once
        (local.set $d (i32.const 0))
        (loop $zero
          (v128.store (i32.add (local.get $op) (local.get $d)) (v128.const f32x4 0 0 0 0))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $zero (i32.lt_u (local.get $d) (local.get $hdB))))
        ;; four value rows per pass over the output row (4× fewer loads/stores of out), then the rest
        (local.set $vp (i32.add (local.get $v) (i32.mul (local.get $h) (local.get $headB))))
        (local.set $sp (local.get $scratch))
        (local.set $t (i32.const 0))
        (block $pv4_done
          (loop $pv4
            (br_if $pv4_done (i32.ge_u (local.get $t) (local.get $n4)))
            (call $axpy4 (local.get $op) (local.get $vp) (local.get $hdB) (v128.load (local.get $sp)))
            (local.set $vp (i32.add (local.get $vp) (i32.shl (local.get $hdB) (i32.const 2))))
            (local.set $sp (i32.add (local.get $sp) (i32.const 16)))
            (local.set $t (i32.add (local.get $t) (i32.const 4)))
            (br $pv4)))
        (block $pv1_done
          (loop $pv1
            (br_if $pv1_done (i32.ge_u (local.get $t) (local.get $n)))
            (local.set $pv (f32x4.splat (f32.load (local.get $sp))))
            (local.set $d (i32.const 0))
            (loop $pv_d
              (v128.store (i32.add (local.get $op) (local.get $d))
                (f32x4.add (v128.load (i32.add (local.get $op) (local.get $d)))
                  (f32x4.mul (local.get $pv) (v128.load (i32.add (local.get $vp) (local.get $d))))))
              (local.set $d (i32.add (local.get $d) (i32.const 16)))
              (br_if $pv_d (i32.lt_u (local.get $d) (local.get $hdB))))
            (local.set $vp (i32.add (local.get $vp) (local.get $hdB)))
            (local.set $sp (i32.add (local.get $sp) (i32.const 4)))
            (local.set $t (i32.add (local.get $t) (i32.const 1)))
            (br $pv1)))
        (local.set $pv (f32x4.splat (f32.demote_f64 (f64.div (f64.const 1) (local.get $sum)))))
        (local.set $d (i32.const 0))
        (loop $norm
          (v128.store (i32.add (local.get $op) (local.get $d))
            (f32x4.mul (v128.load (i32.add (local.get $op) (local.get $d))) (local.get $pv)))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $norm (i32.lt_u (local.get $d) (local.get $hdB))))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br_if $head (i32.lt_u (local.get $h) (local.get $H))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $pos (i32.lt_u (local.get $i) (local.get $T)))))

  ;; ---------------------------------------------------------------------------------------------
  ;; kv_append: copy T new positions of keys (or values) into the cache.
  ;;   src f32 [T, stride] with head h of position i at src[i*stride + h*hd .. +hd]
  ;;       (stride = H*hd for a split k/v, 3*H*hd when src points at k or v inside a fused qkv row)
  ;;   dst f32 [H, cap, hd]; writes positions past..past+T-1. Requires hd % 4 == 0, past+T ≤ cap.
  (func (export "kv_append")
    (param $src i32) (param $T i32) (param $stride i32) (param $H i32) (param $hd i32)
    (param $dst i32) (param $cap i32) (param $past i32)
    (local $i i32) (local $h i32) (local $d i32) (local $hdB i32) (local $sp i32) (local $dp i32)
    (if (i32.eqz (local.get $T)) (then (return)))
    (local.set $hdB (i32.shl (local.get $hd) (i32.const 2)))
    (local.set $i (i32.const 0))
    (loop $pos
      (local.set $h (i32.const 0))
      (loop $head
        (local.set $sp (i32.add (local.get $src) (i32.shl
          (i32.add (i32.mul (local.get $i) (local.get $stride)) (i32.mul (local.get $h) (local.get $hd))) (i32.const 2))))
        ;; [H, cap, hd]: head h, position past+i
        (local.set $dp (i32.add (local.get $dst) (i32.mul
          (i32.add (i32.mul (local.get $h) (local.get $cap)) (i32.add (local.get $past) (local.get $i))) (local.get $hdB))))
        (local.set $d (i32.const 0))
        (loop $copy
          (v128.store (i32.add (local.get $dp) (local.get $d)) (v128.load (i32.add (local.get $sp) (local.get $d))))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br_if $copy (i32.lt_u (local.get $d) (local.get $hdB))))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br_if $head (i32.lt_u (local.get $h) (local.get $H))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $pos (i32.lt_u (local.get $i) (local.get $T)))))

  ;; ---------------------------------------------------------------------------------------------
  ;; Dense layers of an int8 model (the `kernels` segments of worker/model/dense.ts): per-row 7-bit
  ;; activations times int8 weights with relaxed SIMD's i8×i7 dot product, layer norm, gelu_new.
  ;;
  ;; Why 7 bits: i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies 16 signed int8 lanes by 16 lanes of the
  ;; second operand and is deterministic on every engine exactly when the second operand's lanes are in
  ;; [0, 127] (x86 lowers it to pmaddubsw/pmaddwd or VNNI's vpdpbusd, Arm to sdot; all agree there), so
  ;; activations are quantized per row to unsigned 7-bit with a zero point. One instruction (VNNI) or
  ;; three then do 16 multiply-adds, where baseline SIMD needs the int16 widening of head_i8 (~8).
  ;; Pair sums cannot saturate: |w| ≤ 128 and x ≤ 127 give |2·128·127| = 32512 < 32767.

  ;; quant_u7: per row r of x f32 [M, K]: lo = min(min x_r, 0), hi = max(max x_r, 0),
  ;; s_r = (hi - lo)/127 (1 for an all-zero row), zp_r = clamp(nearest(-lo/s_r), 0, 127),
  ;; xq[r, k] = clamp(nearest(x * (1/s_r)) + zp_r, 0, 127) as bytes. Writes xs f32 [M] = s_r, zp i32 [M].
  ;; K % 16 == 0. A row's bytes depend on that row alone.
  (func (export "quant_u7")
    (param $x i32) (param $M i32) (param $K i32) (param $xq i32) (param $xs i32) (param $zp i32)
    (local $r i32) (local $xr i32) (local $qr i32) (local $e i32) (local $end i32)
    (local $mn v128) (local $mx v128) (local $v v128) (local $lo f32) (local $hi f32) (local $s f32)
    (local $z i32) (local $inv v128) (local $zv v128)
    (local.set $r (i32.const 0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $r) (local.get $M)))
        (local.set $xr (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $K)) (i32.const 2))))
        (local.set $qr (i32.add (local.get $xq) (i32.mul (local.get $r) (local.get $K))))
        (local.set $end (i32.add (local.get $xr) (i32.shl (local.get $K) (i32.const 2))))
        (local.set $mn (v128.const f32x4 0 0 0 0))
        (local.set $mx (v128.const f32x4 0 0 0 0))
        (local.set $e (local.get $xr))
        (loop $range
          (local.set $v (v128.load (local.get $e)))
          (local.set $mn (f32x4.min (local.get $mn) (local.get $v)))
          (local.set $mx (f32x4.max (local.get $mx) (local.get $v)))
          (local.set $e (i32.add (local.get $e) (i32.const 16)))
          (br_if $range (i32.lt_u (local.get $e) (local.get $end))))
        (local.set $lo (f32.min
          (f32.min (f32x4.extract_lane 0 (local.get $mn)) (f32x4.extract_lane 1 (local.get $mn)))
          (f32.min (f32x4.extract_lane 2 (local.get $mn)) (f32x4.extract_lane 3 (local.get $mn)))))
        (local.set $hi (f32.max
          (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
          (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
        (local.set $s (f32.div (f32.sub (local.get $hi) (local.get $lo)) (f32.const 127)))
        (if (f32.eq (local.get $s) (f32.const 0)) (then (local.set $s (f32.const 1))))
        ;; -lo/s is in [0, 127] up to rounding; the clamp keeps zp a valid 7-bit level
        (local.set $z (i32.trunc_sat_f32_s (f32.nearest (f32.div (f32.neg (local.get $lo)) (local.get $s)))))
        (local.set $z (select (i32.const 127) (local.get $z) (i32.gt_s (local.get $z) (i32.const 127))))
        (local.set $z (select (i32.const 0) (local.get $z) (i32.lt_s (local.get $z) (i32.const 0))))
        (f32.store (i32.add (local.get $xs) (i32.shl (local.get $r) (i32.const 2))) (local.get $s))
        (i32.store (i32.add (local.get $zp) (i32.shl (local.get $r) (i32.const 2))) (local.get $z))
        (local.set $inv (f32x4.splat (f32.div (f32.const 1) (local.get $s))))
        (local.set $zv (i32x4.splat (local.get $z)))
        ;; 16 floats → 16 bytes: i32 → i16 (signed saturation) → u8 (unsigned saturation clamps at 0) → ≤ 127
        (local.set $e (local.get $xr))
        (loop $q
          (v128.store (local.get $qr)
            (i8x16.min_u
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s
                  (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $e)) (local.get $inv)))) (local.get $zv))
                  (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $e)) (local.get $inv)))) (local.get $zv)))
                (i16x8.narrow_i32x4_s
                  (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=32 (local.get $e)) (local.get $inv)))) (local.get $zv))
                  (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=48 (local.get $e)) (local.get $inv)))) (local.get $zv))))
              (i8x16.splat (i32.const 127))))
          (local.set $qr (i32.add (local.get $qr) (i32.const 16)))
          (local.set $e (i32.add (local.get $e) (i32.const 64)))
          (br_if $q (i32.lt_u (local.get $e) (local.get $end))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; [Σ a0, Σ a1, Σ a2, Σ a3]: four accumulators' lanes summed, one output column each
  (func $sum4 (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (result v128)
    (local $lo v128) (local $hi v128)
    (local.set $lo (i32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
    (local.set $hi (i32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a2) (local.get $a3))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a2) (local.get $a3))))
    (i32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $lo) (local.get $hi))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $lo) (local.get $hi))))

  ;; Four outputs of one row from their integer sums: y = s_r·ws[n]·(acc - zp_r·colsum[n]) + bias[n]
  ;; (no bias when $bias is -1), added to what `o` holds when $add is set (the residual). Same operations in the same order for
  ;; every row, so a row's outputs do not depend on which other rows share the call.
  (func $epilogue (param $acc v128) (param $o i32) (param $n4 i32) (param $zp i32) (param $s f32)
    (param $colsum i32) (param $ws i32) (param $bias i32) (param $add i32)
    (local $y v128)
    (local.set $y
      (f32x4.mul
        (f32x4.convert_i32x4_s (i32x4.sub (local.get $acc)
          (i32x4.mul (i32x4.splat (local.get $zp)) (v128.load (i32.add (local.get $colsum) (local.get $n4))))))
        (f32x4.mul (f32x4.splat (local.get $s)) (v128.load (i32.add (local.get $ws) (local.get $n4))))))
    (if (i32.ne (local.get $bias) (i32.const -1))
      (then (local.set $y (f32x4.add (local.get $y) (v128.load (i32.add (local.get $bias) (local.get $n4)))))))
    (if (local.get $add) (then (local.set $y (f32x4.add (v128.load (local.get $o)) (local.get $y)))))
    (v128.store (local.get $o) (local.get $y)))

  ;; linear_u7: out f32 [M, N] (=, or += when $add) xq [M, K] (quant_u7's bytes, xs, zp) · Wᵀ for int8
  ;; W [N, K] with per-column weight scale ws f32 [N], colsum i32 [N] = Σ_k W[n, k], bias f32 [N].
  ;; w holds W in blocks of four columns, each block's 16-byte chunks interleaved: block b (columns
  ;; 4b..4b+3) starts at byte 4b·K, and its chunk c is 64 bytes at 4b·K + 64c: W[4b][16c..16c+15],
  ;; W[4b+1][16c..], W[4b+2][16c..], W[4b+3][16c..]. One pointer then walks a block in order with
  ;; constant offsets (twice the speed of four row pointers at one or two rows, measured in workerd).
  ;; Tiles of two rows × four columns: each weight vector feeds both rows (eight accumulators). Column
  ;; blocks are the outer loop and every pair of rows (then an odd last row, one row × four) runs over
  ;; a block while its 4·K bytes sit in L1, so W streams from memory once per call whatever M is.
  ;; Requires K % 16 == 0, N % 4 == 0, K ≤ 65536 (|Σ| ≤ K·128·127 < 2^31).
  (func (export "linear_u7")
    (param $xq i32) (param $M i32) (param $K i32) (param $w i32) (param $N i32)
    (param $colsum i32) (param $ws i32) (param $bias i32) (param $xs i32) (param $zp i32)
    (param $out i32) (param $add i32)
    (call $linear (local.get $xq) (local.get $M) (local.get $K) (local.get $w) (local.get $N) (local.get $colsum)
      (local.get $ws) (local.get $bias) (local.get $xs) (local.get $zp) (local.get $out) (local.get $add) (local.get $N)))

  ;; linear_u7's body, with the output's row stride $ldo (floats; N for linear_u7, V for head_u7).
  (func $linear
    (param $xq i32) (param $M i32) (param $K i32) (param $w i32) (param $N i32)
    (param $colsum i32) (param $ws i32) (param $bias i32) (param $xs i32) (param $zp i32)
    (param $out i32) (param $add i32) (param $ldo i32)
    (local $r i32) (local $n i32) (local $n4 i32) (local $x0 i32) (local $o0 i32) (local $K4 i32) (local $N4 i32)
    (local $blk i32) (local $p0 i32) (local $xp i32) (local $end i32)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128) (local $xa v128) (local $xb v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $N4 (i32.shl (local.get $ldo) (i32.const 2))) ;; bytes from one output row to the next
    (local.set $n (i32.const 0))
    (loop $cols
      (local.set $blk (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $K)))) ;; this block of 4 columns
      (local.set $n4 (i32.shl (local.get $n) (i32.const 2)))
      (local.set $r (i32.const 0))
      (block $pairs_done
        (loop $pairs
          (br_if $pairs_done (i32.ge_u (i32.add (local.get $r) (i32.const 1)) (local.get $M)))
          (local.set $x0 (i32.add (local.get $xq) (i32.mul (local.get $r) (local.get $K))))
          (local.set $o0 (i32.add (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $N4))) (local.get $n4)))
          (local.set $p0 (local.get $blk))
          (local.set $xp (local.get $x0))
          (local.set $end (i32.add (local.get $x0) (local.get $K)))
          (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
          (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
          (local.set $b0 (v128.const i32x4 0 0 0 0)) (local.set $b1 (v128.const i32x4 0 0 0 0))
          (local.set $b2 (v128.const i32x4 0 0 0 0)) (local.set $b3 (v128.const i32x4 0 0 0 0))
          (loop $dot
            (local.set $w0 (v128.load (local.get $p0)))
            (local.set $w1 (v128.load offset=16 (local.get $p0)))
            (local.set $w2 (v128.load offset=32 (local.get $p0)))
            (local.set $w3 (v128.load offset=48 (local.get $p0)))
            (local.set $xa (v128.load (local.get $xp)))
            (local.set $xb (v128.load (i32.add (local.get $xp) (local.get $K))))
            (local.set $a0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w0) (local.get $xa) (local.get $a0)))
            (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w1) (local.get $xa) (local.get $a1)))
            (local.set $a2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w2) (local.get $xa) (local.get $a2)))
            (local.set $a3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w3) (local.get $xa) (local.get $a3)))
            (local.set $b0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w0) (local.get $xb) (local.get $b0)))
            (local.set $b1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w1) (local.get $xb) (local.get $b1)))
            (local.set $b2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w2) (local.get $xb) (local.get $b2)))
            (local.set $b3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $w3) (local.get $xb) (local.get $b3)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 64)))
            (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
            (br_if $dot (i32.lt_u (local.get $xp) (local.get $end))))
          (call $epilogue (call $sum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
            (local.get $o0) (local.get $n4)
            (i32.load (i32.add (local.get $zp) (i32.shl (local.get $r) (i32.const 2))))
            (f32.load (i32.add (local.get $xs) (i32.shl (local.get $r) (i32.const 2))))
            (local.get $colsum) (local.get $ws) (local.get $bias) (local.get $add))
          (call $epilogue (call $sum4 (local.get $b0) (local.get $b1) (local.get $b2) (local.get $b3))
            (i32.add (local.get $o0) (local.get $N4)) (local.get $n4)
            (i32.load offset=4 (i32.add (local.get $zp) (i32.shl (local.get $r) (i32.const 2))))
            (f32.load offset=4 (i32.add (local.get $xs) (i32.shl (local.get $r) (i32.const 2))))
            (local.get $colsum) (local.get $ws) (local.get $bias) (local.get $add))
          (local.set $r (i32.add (local.get $r) (i32.const 2)))
          (br $pairs)))
      ;; the odd last row (or the only one): one row × four columns
      (if (i32.lt_u (local.get $r) (local.get $M))
        (then
          (local.set $x0 (i32.add (local.get $xq) (i32.mul (local.get $r) (local.get $K))))
          (local.set $p0 (local.get $blk))
          (local.set $xp (local.get $x0))
          (local.set $end (i32.add (local.get $x0) (local.get $K)))
          (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
          (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
          (loop $dot1
            (local.set $xa (v128.load (local.get $xp)))
            (local.set $a0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.load (local.get $p0)) (local.get $xa) (local.get $a0)))
            (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.load offset=16 (local.get $p0)) (local.get $xa) (local.get $a1)))
            (local.set $a2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.load offset=32 (local.get $p0)) (local.get $xa) (local.get $a2)))
            (local.set $a3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.load offset=48 (local.get $p0)) (local.get $xa) (local.get $a3)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 64)))
            (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
            (br_if $dot1 (i32.lt_u (local.get $xp) (local.get $end))))
          (call $epilogue (call $sum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
            (i32.add (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $N4))) (local.get $n4)) (local.get $n4)
            (i32.load (i32.add (local.get $zp) (i32.shl (local.get $r) (i32.const 2))))
            (f32.load (i32.add (local.get $xs) (i32.shl (local.get $r) (i32.const 2))))
            (local.get $colsum) (local.get $ws) (local.get $bias) (local.get $add))))
      (local.set $n (i32.add (local.get $n) (i32.const 4)))
      (br_if $cols (i32.lt_u (local.get $n) (local.get $N)))))

  ;; head_u7: the tied LM head on quant_u7's rows: out f32 [rows, V] with
  ;;   out[r, v] = s_r·scale[v]·(Σ_e w[v, e]·xq[r, e] - zp_r·colsum[v])
  ;; for wte w i8 [V, E] with per-row weight scale f32 [V] and colsum i32 [V] = Σ_e w[v, e] (rowsum_i8,
  ;; taken before interleave4). The first V4 = V & ~3 vocab rows are laid out by interleave4 — the layout
  ;; linear_u7 reads, so they are linear_u7 with N = V4, no bias, output rows V floats apart — and the last
  ;; V % 4 stay row-major, one vocab row at a time. (Row-major wte read through four row pointers ran at half
  ;; the speed at one row, and two to six rows fell off the memory prefetchers: measured in workerd.)
  ;; E % 16 == 0. A row's logits are the same bits alone or beside any other rows.
  (func (export "head_u7")
    (param $xq i32) (param $rows i32) (param $E i32) (param $w i32) (param $V i32)
    (param $colsum i32) (param $scale i32) (param $xs i32) (param $zp i32) (param $out i32)
    (local $V4 i32) (local $n i32) (local $p0 i32) (local $rr i32) (local $x0 i32) (local $e i32) (local $a0 v128)
    (local.set $V4 (i32.and (local.get $V) (i32.const -4)))
    (if (local.get $V4)
      (then (call $linear (local.get $xq) (local.get $rows) (local.get $E) (local.get $w) (local.get $V4) (local.get $colsum)
        (local.get $scale) (i32.const -1) (local.get $xs) (local.get $zp) (local.get $out) (i32.const 0) (local.get $V))))
    ;; the last V % 4 vocab rows, every row: one accumulator, its lanes summed
    (local.set $n (local.get $V4))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $n) (local.get $V)))
        (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $n) (local.get $E))))
        (local.set $rr (i32.const 0))
        (loop $trows
          (local.set $x0 (i32.add (local.get $xq) (i32.mul (local.get $rr) (local.get $E))))
          (local.set $a0 (v128.const i32x4 0 0 0 0))
          (local.set $e (i32.const 0))
          (loop $tdot
            (local.set $a0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.load (i32.add (local.get $p0) (local.get $e)))
              (v128.load (i32.add (local.get $x0) (local.get $e))) (local.get $a0)))
            (local.set $e (i32.add (local.get $e) (i32.const 16)))
            (br_if $tdot (i32.lt_u (local.get $e) (local.get $E))))
          (f32.store
            (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $rr) (local.get $V)) (local.get $n)) (i32.const 2)))
            (f32.mul
              (f32.convert_i32_s (i32.sub (call $hsum_i32 (local.get $a0))
                (i32.mul (i32.load (i32.add (local.get $zp) (i32.shl (local.get $rr) (i32.const 2))))
                  (i32.load (i32.add (local.get $colsum) (i32.shl (local.get $n) (i32.const 2)))))))
              (f32.mul (f32.load (i32.add (local.get $xs) (i32.shl (local.get $rr) (i32.const 2))))
                (f32.load (i32.add (local.get $scale) (i32.shl (local.get $n) (i32.const 2)))))))
          (local.set $rr (i32.add (local.get $rr) (i32.const 1)))
          (br_if $trows (i32.lt_u (local.get $rr) (local.get $rows))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $tail))))

  ;; rowsum_i8: out i32 [V] = Σ_e w[v, e] for w i8 [V, E] (head_u7's zero-point correction). E % 16 == 0.
  (func (export "rowsum_i8") (param $w i32) (param $V i32) (param $E i32) (param $out i32)
    (local $v i32) (local $e i32) (local $acc v128) (local $p i32)
    (local.set $v (i32.const 0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $v) (local.get $V)))
        (local.set $p (i32.add (local.get $w) (i32.mul (local.get $v) (local.get $E))))
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $e (i32.const 0))
        (loop $sum
          (local.set $acc (i32x4.add (local.get $acc)
            (i32x4.extadd_pairwise_i16x8_s (i16x8.extadd_pairwise_i8x16_s (v128.load (i32.add (local.get $p) (local.get $e)))))))
          (local.set $e (i32.add (local.get $e) (i32.const 16)))
          (br_if $sum (i32.lt_u (local.get $e) (local.get $E))))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $v) (i32.const 2))) (call $hsum_i32 (local.get $acc)))
        (local.set $v (i32.add (local.get $v) (i32.const 1)))
        (br $rows))))

  ;; interleave4: in place, W i8 [N, K] row-major → the layout linear_u7 reads: each block of four rows
  ;; (4·K bytes, the same bytes in both layouts) as K/16 chunks of 64 bytes, chunk c holding
  ;; W[4b][16c..16c+15], W[4b+1][16c..], W[4b+2][16c..], W[4b+3][16c..]. tmp: 4·K bytes of scratch.
  ;; N % 4 == 0, K % 16 == 0. For wte, which arrives row-major (the embedding's own layout).
  (func (export "interleave4") (param $w i32) (param $N i32) (param $K i32) (param $tmp i32)
    (local $blk i32) (local $end i32) (local $c i32) (local $d i32) (local $i i32) (local $K4 i32)
    (local.set $K4 (i32.shl (local.get $K) (i32.const 2)))
    (local.set $blk (local.get $w))
    (local.set $end (i32.add (local.get $w) (i32.mul (local.get $N) (local.get $K))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $blk) (local.get $end)))
        (local.set $c (i32.const 0))
        (local.set $d (local.get $tmp))
        (loop $chunks
          (v128.store (local.get $d) (v128.load (i32.add (local.get $blk) (local.get $c))))
          (v128.store offset=16 (local.get $d) (v128.load (i32.add (i32.add (local.get $blk) (local.get $K)) (local.get $c))))
          (v128.store offset=32 (local.get $d)
            (v128.load (i32.add (i32.add (local.get $blk) (i32.shl (local.get $K) (i32.const 1))) (local.get $c))))
          (v128.store offset=48 (local.get $d)
            (v128.load (i32.add (i32.add (local.get $blk) (i32.mul (local.get $K) (i32.const 3))) (local.get $c))))
          (local.set $d (i32.add (local.get $d) (i32.const 64)))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br_if $chunks (i32.lt_u (local.get $c) (local.get $K))))
        (local.set $i (i32.const 0))
        (loop $back
          (v128.store (i32.add (local.get $blk) (local.get $i)) (v128.load (i32.add (local.get $tmp) (local.get $i))))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (br_if $back (i32.lt_u (local.get $i) (local.get $K4))))
        (local.set $blk (i32.add (local.get $blk) (local.get $K4)))
        (br $blocks))))

  ;; layer_norm: out[r] = (x[r] - mean_r) / sqrt(var_r + eps) · gamma + beta over rows of E floats
  ;; (two passes: mean, then the variance of the centred values). E % 4 == 0. out may equal x.
  (func (export "layer_norm")
    (param $x i32) (param $M i32) (param $E i32) (param $gamma i32) (param $beta i32) (param $eps f32) (param $out i32)
    (local $r i32) (local $xr i32) (local $or i32) (local $e i32) (local $EB i32)
    (local $acc v128) (local $d v128) (local $mean v128) (local $rstd v128) (local $inv f32)
    (local.set $EB (i32.shl (local.get $E) (i32.const 2)))
    (local.set $inv (f32.div (f32.const 1) (f32.convert_i32_u (local.get $E))))
    (local.set $r (i32.const 0))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $r) (local.get $M)))
        (local.set $xr (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $EB))))
        (local.set $or (i32.add (local.get $out) (i32.mul (local.get $r) (local.get $EB))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $e (i32.const 0))
        (loop $sum
          (local.set $acc (f32x4.add (local.get $acc) (v128.load (i32.add (local.get $xr) (local.get $e)))))
          (local.set $e (i32.add (local.get $e) (i32.const 16)))
          (br_if $sum (i32.lt_u (local.get $e) (local.get $EB))))
        (local.set $mean (f32x4.splat (f32.mul (call $hsum_f32 (local.get $acc)) (local.get $inv))))
        (local.set $acc (v128.const f32x4 0 0 0 0))
        (local.set $e (i32.const 0))
        (loop $var
          (local.set $d (f32x4.sub (v128.load (i32.add (local.get $xr) (local.get $e))) (local.get $mean)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
          (local.set $e (i32.add (local.get $e) (i32.const 16)))
          (br_if $var (i32.lt_u (local.get $e) (local.get $EB))))
        (local.set $rstd (f32x4.splat (f32.div (f32.const 1)
          (f32.sqrt (f32.add (f32.mul (call $hsum_f32 (local.get $acc)) (local.get $inv)) (local.get $eps))))))
        (local.set $e (i32.const 0))
        (loop $norm
          (v128.store (i32.add (local.get $or) (local.get $e))
            (f32x4.add
              (f32x4.mul
                (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $xr) (local.get $e))) (local.get $mean)) (local.get $rstd))
                (v128.load (i32.add (local.get $gamma) (local.get $e))))
              (v128.load (i32.add (local.get $beta) (local.get $e)))))
          (local.set $e (i32.add (local.get $e) (i32.const 16)))
          (br_if $norm (i32.lt_u (local.get $e) (local.get $EB))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; gelu_new in place over n floats (n % 4 == 0): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), GPT-2's
  ;; tanh approximation (ORT's FastGelu). tanh(u) = sign(u)·(1 - e)/(1 + e) with e = exp(-2|u|) ≤ 1, so
  ;; $exp4 only sees arguments ≤ 0 (its domain) and large |u| gives ±1 exactly.
  (func (export "gelu_new") (param $x i32) (param $n i32)
    (local $end i32) (local $v v128) (local $u v128) (local $e v128) (local $t v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $v (v128.load (local.get $x)))
        (local.set $u (f32x4.mul (f32x4.splat (f32.const 0.7978845608))
          (f32x4.add (local.get $v)
            (f32x4.mul (f32x4.splat (f32.const 0.044715)) (f32x4.mul (local.get $v) (f32x4.mul (local.get $v) (local.get $v)))))))
        (local.set $e (call $exp4 (f32x4.mul (f32x4.splat (f32.const -2)) (f32x4.abs (local.get $u)))))
        (local.set $t (f32x4.div (f32x4.sub (f32x4.splat (f32.const 1)) (local.get $e)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $e))))
        (local.set $t (v128.or (local.get $t) (v128.and (local.get $u) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
        (v128.store (local.get $x)
          (f32x4.mul (f32x4.mul (f32x4.splat (f32.const 0.5)) (local.get $v)) (f32x4.add (f32x4.splat (f32.const 1)) (local.get $t))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $l))))
)
