;; GPT-2 decode kernels: LM head (int8 / f32 weights), causal attention over a resident KV cache,
;; and the KV append. Hand-written WAT, baseline WASM SIMD (v128) only: no relaxed-simd, no threads.
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
  ;; head_i8: out[r*V+v] = scale[v] * xs_r * Σ_e xq_r[e] * w[v*E+e]
  ;;   x     f32 [rows, E]         activations (after ln_f)
  ;;   w     i8  [V, E]            row-major int8 weights (the tied wte, symmetric per-row scale)
  ;;   scale f32 [V]               per-row weight scale
  ;;   out   f32 [rows, V]
  ;;   xq    scratch: i16 [rows, E] then f32 [rows] (the per-row activation scales xs_r)
  ;; Requires E % 16 == 0 and E <= 2048 (checked by the TS wrapper).
  ;;
  ;; Overflow bound: |xq| <= 8191 (14 bits) and |w| <= 128, so one product is at most 8191*128 =
  ;; 1,048,448. Each i32 lane accumulates E/4 products and the final horizontal sum adds all E of them:
  ;; E * 1,048,448 <= 2^31-1 holds for E <= 2048 (2048 * 1,048,448 = 2,147,221,504 < 2,147,483,647).
  ;; i32x4.dot_i16x8_s itself cannot overflow on sign-extended int8 inputs.
  (func (export "head_i8")
    (param $x i32) (param $rows i32) (param $w i32) (param $scale i32)
    (param $V i32) (param $E i32) (param $out i32) (param $xq i32)
    (local $r i32) (local $v i32) (local $V4 i32) (local $e i32)
    (local $xr i32) (local $qr i32) (local $qp i32) (local $xsp i32)
    (local $m v128) (local $mx f32) (local $inv f32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $end i32)
    (local $x0 v128) (local $x1 v128) (local $wv v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $xs f32) (local $o i32) (local $sp i32)
    (local $qq i32) (local $y0 v128) (local $y1 v128) (local $lo v128) (local $hi v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (if (i32.eqz (local.get $rows)) (then (return)))
    ;; the per-row scales live right after the i16 rows
    (local.set $xsp (i32.add (local.get $xq) (i32.mul (i32.mul (local.get $rows) (local.get $E)) (i32.const 2))))

    ;; 1. quantize each row of x to int16 with 14-bit range: xq = round(x * 8191/max|x|)
    (local.set $r (i32.const 0))
    (loop $rowq
      (local.set $xr (i32.add (local.get $x) (i32.mul (i32.mul (local.get $r) (local.get $E)) (i32.const 4))))
      (local.set $qr (i32.add (local.get $xq) (i32.mul (i32.mul (local.get $r) (local.get $E)) (i32.const 2))))
      ;; max |x| over the row
      (local.set $m (v128.const f32x4 0 0 0 0))
      (local.set $e (i32.const 0))
      (loop $amax
        (local.set $m (f32x4.max (local.get $m)
          (f32x4.abs (v128.load (i32.add (local.get $xr) (i32.shl (local.get $e) (i32.const 2)))))))
        (local.set $e (i32.add (local.get $e) (i32.const 4)))
        (br_if $amax (i32.lt_u (local.get $e) (local.get $E))))
      (local.set $mx (f32.max
        (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
        (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
      ;; a row of zeros gets inv = 0 and xs = 0: its xq and its outputs are zeros
      (if (f32.gt (local.get $mx) (f32.const 0))
        (then
          (local.set $inv (f32.div (f32.const 8191) (local.get $mx)))
          (local.set $xs (f32.div (local.get $mx) (f32.const 8191))))
        (else
          (local.set $inv (f32.const 0))
          (local.set $xs (f32.const 0))))
      (f32.store (i32.add (local.get $xsp) (i32.shl (local.get $r) (i32.const 2))) (local.get $xs))
      ;; 8 floats → 8 int16 per step; |x*inv| <= 8191 so narrowing never saturates
      (local.set $m (f32x4.splat (local.get $inv)))
      (local.set $e (i32.const 0))
      (loop $quant
        (local.set $p0 (i32.add (local.get $xr) (i32.shl (local.get $e) (i32.const 2))))
        (v128.store (i32.add (local.get $qr) (i32.shl (local.get $e) (i32.const 1)))
          (i16x8.narrow_i32x4_s
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (local.get $p0)) (local.get $m))))
            (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $p0)) (local.get $m))))))
        (local.set $e (i32.add (local.get $e) (i32.const 8)))
        (br_if $quant (i32.lt_u (local.get $e) (local.get $E))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $rowq (i32.lt_u (local.get $r) (local.get $rows))))

    ;; 2. four vocab rows at a time, rows two at a time: each weight vector is loaded and widened to int16
    ;; once for both rows of a pair (eight accumulators), and each pair streams all of w once. Pairs are
    ;; the outer loop: a second pass over a 4×E block of weights within one group ran about twice as slow
    ;; as the first (measured, cause not found), so no block is read twice in a row. A row's sums are the
    ;; same integers in a pair or alone, so its logits do not depend on how many rows share the call.
    (local.set $V4 (i32.and (local.get $V) (i32.const -4)))
    (local.set $r (i32.const 0))
    (block $pairs_done
      (loop $pairs
        (br_if $pairs_done (i32.ge_u (i32.add (local.get $r) (i32.const 1)) (local.get $rows)))
        (local.set $v (i32.const 0))
        (block $pgroups_done
          (loop $pgroups
            (br_if $pgroups_done (i32.ge_u (local.get $v) (local.get $V4)))
            (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $v) (local.get $E))))
            (local.set $p1 (i32.add (local.get $p0) (local.get $E)))
            (local.set $p2 (i32.add (local.get $p1) (local.get $E)))
            (local.set $p3 (i32.add (local.get $p2) (local.get $E)))
            (local.set $end (i32.add (local.get $p0) (local.get $E)))
            (local.set $qp (i32.add (local.get $xq) (i32.mul (i32.mul (local.get $r) (local.get $E)) (i32.const 2))))
            (local.set $qq (i32.add (local.get $qp) (i32.mul (local.get $E) (i32.const 2))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (local.set $b0 (v128.const i32x4 0 0 0 0))
            (local.set $b1 (v128.const i32x4 0 0 0 0))
            (local.set $b2 (v128.const i32x4 0 0 0 0))
            (local.set $b3 (v128.const i32x4 0 0 0 0))
            (loop $dot8
              (local.set $x0 (v128.load (local.get $qp)))
              (local.set $x1 (v128.load offset=16 (local.get $qp)))
              (local.set $y0 (v128.load (local.get $qq)))
              (local.set $y1 (v128.load offset=16 (local.get $qq)))
              (local.set $wv (v128.load (local.get $p0)))
              (local.set $lo (i16x8.extend_low_i8x16_s (local.get $wv)))
              (local.set $hi (i16x8.extend_high_i8x16_s (local.get $wv)))
              (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $x0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $x1)))))
              (local.set $b0 (i32x4.add (local.get $b0) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $y0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $y1)))))
              (local.set $wv (v128.load (local.get $p1)))
              (local.set $lo (i16x8.extend_low_i8x16_s (local.get $wv)))
              (local.set $hi (i16x8.extend_high_i8x16_s (local.get $wv)))
              (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $x0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $x1)))))
              (local.set $b1 (i32x4.add (local.get $b1) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $y0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $y1)))))
              (local.set $wv (v128.load (local.get $p2)))
              (local.set $lo (i16x8.extend_low_i8x16_s (local.get $wv)))
              (local.set $hi (i16x8.extend_high_i8x16_s (local.get $wv)))
              (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $x0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $x1)))))
              (local.set $b2 (i32x4.add (local.get $b2) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $y0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $y1)))))
              (local.set $wv (v128.load (local.get $p3)))
              (local.set $lo (i16x8.extend_low_i8x16_s (local.get $wv)))
              (local.set $hi (i16x8.extend_high_i8x16_s (local.get $wv)))
              (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $x0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $x1)))))
              (local.set $b3 (i32x4.add (local.get $b3) (i32x4.add
                (i32x4.dot_i16x8_s (local.get $lo) (local.get $y0)) (i32x4.dot_i16x8_s (local.get $hi) (local.get $y1)))))
              (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
              (local.set $qq (i32.add (local.get $qq) (i32.const 32)))
              (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
              (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
              (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
              (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
              (br_if $dot8 (i32.lt_u (local.get $p0) (local.get $end))))
            (local.set $sp (i32.add (local.get $scale) (i32.shl (local.get $v) (i32.const 2))))
            (local.set $xs (f32.load (i32.add (local.get $xsp) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $o (i32.add (local.get $out)
              (i32.shl (i32.add (i32.mul (local.get $r) (local.get $V)) (local.get $v)) (i32.const 2))))
            (f32.store (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a0))) (local.get $xs)) (f32.load (local.get $sp))))
            (f32.store offset=4 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a1))) (local.get $xs)) (f32.load offset=4 (local.get $sp))))
            (f32.store offset=8 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a2))) (local.get $xs)) (f32.load offset=8 (local.get $sp))))
            (f32.store offset=12 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a3))) (local.get $xs)) (f32.load offset=12 (local.get $sp))))
            (local.set $xs (f32.load offset=4 (i32.add (local.get $xsp) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $o (i32.add (local.get $o) (i32.shl (local.get $V) (i32.const 2))))
            (f32.store (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $b0))) (local.get $xs)) (f32.load (local.get $sp))))
            (f32.store offset=4 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $b1))) (local.get $xs)) (f32.load offset=4 (local.get $sp))))
            (f32.store offset=8 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $b2))) (local.get $xs)) (f32.load offset=8 (local.get $sp))))
            (f32.store offset=12 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $b3))) (local.get $xs)) (f32.load offset=12 (local.get $sp))))
            (local.set $v (i32.add (local.get $v) (i32.const 4)))
            (br $pgroups)))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $pairs)))
    ;; the last row of an odd count, alone (four vocab rows per pass, as above)
    (if (i32.lt_u (local.get $r) (local.get $rows))
      (then
        (local.set $v (i32.const 0))
        (block $groups_done
          (loop $groups
            (br_if $groups_done (i32.ge_u (local.get $v) (local.get $V4)))
            (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $v) (local.get $E))))
            (local.set $p1 (i32.add (local.get $p0) (local.get $E)))
            (local.set $p2 (i32.add (local.get $p1) (local.get $E)))
            (local.set $p3 (i32.add (local.get $p2) (local.get $E)))
            (local.set $end (i32.add (local.get $p0) (local.get $E)))
            (local.set $qp (i32.add (local.get $xq) (i32.mul (i32.mul (local.get $r) (local.get $E)) (i32.const 2))))
            (local.set $a0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0))
            (loop $dot4
              (local.set $x0 (v128.load (local.get $qp)))
              (local.set $x1 (v128.load offset=16 (local.get $qp)))
              (local.set $wv (v128.load (local.get $p0)))
              (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $wv)) (local.get $x0))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $wv)) (local.get $x1)))))
              (local.set $wv (v128.load (local.get $p1)))
              (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $wv)) (local.get $x0))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $wv)) (local.get $x1)))))
              (local.set $wv (v128.load (local.get $p2)))
              (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $wv)) (local.get $x0))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $wv)) (local.get $x1)))))
              (local.set $wv (v128.load (local.get $p3)))
              (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add
                (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $wv)) (local.get $x0))
                (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $wv)) (local.get $x1)))))
              (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
              (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
              (local.set $p1 (i32.add (local.get $p1) (i32.const 16)))
              (local.set $p2 (i32.add (local.get $p2) (i32.const 16)))
              (local.set $p3 (i32.add (local.get $p3) (i32.const 16)))
              (br_if $dot4 (i32.lt_u (local.get $p0) (local.get $end))))
            ;; out[r, v..v+3] = f32(Σ) * xs_r * scale[v..v+3]
            (local.set $xs (f32.load (i32.add (local.get $xsp) (i32.shl (local.get $r) (i32.const 2)))))
            (local.set $o (i32.add (local.get $out)
              (i32.shl (i32.add (i32.mul (local.get $r) (local.get $V)) (local.get $v)) (i32.const 2))))
            (local.set $sp (i32.add (local.get $scale) (i32.shl (local.get $v) (i32.const 2))))
            (f32.store (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a0))) (local.get $xs)) (f32.load (local.get $sp))))
            (f32.store offset=4 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a1))) (local.get $xs)) (f32.load offset=4 (local.get $sp))))
            (f32.store offset=8 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a2))) (local.get $xs)) (f32.load offset=8 (local.get $sp))))
            (f32.store offset=12 (local.get $o) (f32.mul (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a3))) (local.get $xs)) (f32.load offset=12 (local.get $sp))))
            (local.set $v (i32.add (local.get $v) (i32.const 4)))
            (br $groups)))))
    (local.set $v (local.get $V4))

    ;; 3. tail: the last V % 4 vocab rows one at a time
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $v) (local.get $V)))
        (local.set $r (i32.const 0))
        (loop $rows1
          (local.set $p0 (i32.add (local.get $w) (i32.mul (local.get $v) (local.get $E))))
          (local.set $end (i32.add (local.get $p0) (local.get $E)))
          (local.set $qp (i32.add (local.get $xq) (i32.mul (i32.mul (local.get $r) (local.get $E)) (i32.const 2))))
          (local.set $a0 (v128.const i32x4 0 0 0 0))
          (loop $dot1
            (local.set $wv (v128.load (local.get $p0)))
            (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $wv)) (v128.load (local.get $qp)))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $wv)) (v128.load offset=16 (local.get $qp))))))
            (local.set $qp (i32.add (local.get $qp) (i32.const 32)))
            (local.set $p0 (i32.add (local.get $p0) (i32.const 16)))
            (br_if $dot1 (i32.lt_u (local.get $p0) (local.get $end))))
          (f32.store
            (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $V)) (local.get $v)) (i32.const 2)))
            (f32.mul
              (f32.mul (f32.convert_i32_s (call $hsum_i32 (local.get $a0)))
                (f32.load (i32.add (local.get $xsp) (i32.shl (local.get $r) (i32.const 2)))))
              (f32.load (i32.add (local.get $scale) (i32.shl (local.get $v) (i32.const 2))))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rows1 (i32.lt_u (local.get $r) (local.get $rows))))
        (local.set $v (i32.add (local.get $v) (i32.const 1)))
        (br $tail))))

  ;; ---------------------------------------------------------------------------------------------
  ;; head_f32: out[r*V+v] = Σ_e x[r*E+e] * w[v*E+e]
  ;;   x f32 [rows, E], w f32 [V, E] row-major, out f32 [rows, V]. Requires E % 4 == 0.
  ;; Same blocking as head_i8: four vocab rows per x load, the rows loop inside.
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
)
