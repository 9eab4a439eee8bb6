import CKernels

/// The 3x3, stride-1, padding-1 convolution by Winograd's minimal filtering, F(2x2, 3x3) or
/// F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): fewer
/// multiplies than the direct sum, 2.25x and 4x fewer, bought with transforms and rounding.
///
/// Each output tile Y (m x m) of output channel k comes from the (m+2) x (m+2) input windows d_c
/// around it (the padding ring and past the edge: zeros) as
///
///     Y_k = A^T [ sum_c (G g_kc G^T) . (B^T d_c B) ] A
///
/// (`.` elementwise; B, G, A and where their points come from: CKernels' winograd_f2x2.c and
/// winograd_f4x4.c). The sum over c at each of the alpha^2 positions of the transform domain
/// is a matrix product over all tiles of a block at once, M[pos] = U[pos] x V[pos],
/// [K x C] x [C x tiles]: alpha^2 GEMMs per block (`GEMM.multiplyBatch`), the work of the
/// layer. The transforms are C (portable, vectorized across 16 tiles; F(4x4, 3x3)'s passes over
/// the tiles also in an AVX-512 form, `vectorPasses`, bit for bit the same); the tiles go in
/// blocks whose transformed data fits a budget of floats, so a block's V and M are still in cache
/// when the GEMMs and the output transform read them.
///
/// The input gradient is the same convolution of the output gradient with the filters turned
/// by 180 degrees and the channels swapped (`transformFilters(flipped: true)`). The weight
/// gradient of one tile is F(3x3, m x m), the transpose of the forward algorithm:
///
///     dW_kc = G^T [ sum_tiles (A dY_k A^T) . (B^T d_c B) ] G
///
/// so the sum over every tile of the batch runs in the transform domain, as alpha^2 GEMMs
/// S[pos] += dY~[pos] x V[pos]^T, [K x tiles] x [tiles x C], and G^T . G is applied once at the end.
public struct WinogradConvolution: Equatable, Sendable {
    /// The output tile: 2x2 (input windows 4x4) or 4x4 (windows 6x6).
    public enum Tile: Int, Sendable, CaseIterable {
        case f2x2 = 2, f4x4 = 4
    }

    public let tile: Tile
    public let height: Int, width: Int

    /// The C kernels transform this many tiles at once (WINO_LANES); blocks come in multiples.
    public static let lanes = 16

    /// Whether F(4x4, 3x3)'s passes over the tiles run in their AVX-512 form (CKernels'
    /// winograd_f4x4_avx512.c: bit for bit the portable C, faster): by default where ddp's AVX-512
    /// kernels run (`KernelPath`); tests turn it off to compare the two. F(2x2, 3x3) has no such
    /// form, so setting it there is a programming error.
    public var vectorPasses: Bool {
        didSet { precondition(!vectorPasses || tile == .f4x4, "AVX-512 Winograd passes exist for F(4x4, 3x3) only") }
    }

    public init(tile: Tile, height: Int, width: Int) {
        precondition(height > 0 && width > 0, "Winograd convolution of an empty \(height)x\(width) image")
        self.tile = tile; self.height = height; self.width = width
        vectorPasses = tile == .f4x4 && KernelPath.usesAVX512
    }

    /// Output pixels per tile side (m).
    public var m: Int { tile.rawValue }
    /// Positions of the transform domain: alpha^2, alpha = m + 2.
    public var positions: Int { (m + 2) * (m + 2) }
    /// Tiles covering one image: ceil(H / m) x ceil(W / m).
    public var tilesPerImage: Int { ((height + m - 1) / m) * ((width + m - 1) / m) }

    /// Floats of transformed filters, [alpha^2][outputs][inputs].
    public func filterCount(outputs: Int, inputs: Int) -> Int { positions * outputs * inputs }

    /// Tiles per block: as many as `budget` floats of transformed data hold (a block holds
    /// alpha^2 * (inputs + outputs) floats per tile: the GEMMs' operand and product), in whole
    /// lane groups, at least one group, and no more than the batch has.
    public func tilesPerBlock(inputs: Int, outputs: Int, batch: Int, budget: Int) -> Int {
        let lanes = Self.lanes
        let fitting = budget / max(1, positions * (inputs + outputs)) / lanes * lanes
        let all = (batch * tilesPerImage + lanes - 1) / lanes * lanes
        return max(lanes, min(fitting, all))
    }

    /// Floats between the rows of a block's transformed data: its tiles in whole lane groups, so
    /// the C transforms read and write every group's 16 lanes in place.
    static func rowLength(_ tiles: Int) -> Int { (tiles + lanes - 1) / lanes * lanes }

    /// Floats of scratch `convolve` and `weightGradient` need for blocks of `tiles` tiles (a
    /// multiple of `lanes`, as `tilesPerBlock` gives) on `threads` threads: one block's worth
    /// for each thread, as the threads take whole blocks.
    public func scratchCount(inputs: Int, outputs: Int, tilesPerBlock tiles: Int, threads: Int) -> Int {
        positions * (inputs + outputs) * Self.rowLength(tiles) * max(1, threads)
    }

    /// How many blocks of `block` tiles the batch's tiles make.
    public func blockCount(batch: Int, block: Int) -> Int { (batch * tilesPerImage + block - 1) / block }

    /// u [alpha^2][outputs][inputs] = G w G^T per filter: w [outputs][inputs][3][3], or for the
    /// input gradient (`flipped`) the layer's [inputs][outputs][3][3] turned by 180 degrees.
    public func transformFilters(_ w: UnsafePointer<Float>, outputs: Int, inputs: Int, flipped: Bool,
                                 into u: UnsafeMutablePointer<Float>) {
        ddp_winograd_filters(Int32(m), w, Int32(outputs), Int32(inputs), flipped ? 1 : 0, u)
    }

    /// y [outChannels][N][H][W] (+)= x [channels][N][H][W] convolved with the filters `u` from
    /// `transformFilters(outputs: outChannels, inputs: channels)`. `scratch` holds
    /// `scratchCount(inputs: channels, outputs: outChannels, tilesPerBlock: block, threads: threads)`
    /// floats.
    ///
    /// The threads take whole blocks, each with its own part of the scratch and its GEMMs on
    /// its own (the blocks' tiles are disjoint parts of y): a block's three steps are too short
    /// to share out (splitting each step cost more than it gained at 2 threads). A batch of one
    /// block shares out each step instead. Either way every tile's result is the same.
    public func convolve(input x: UnsafePointer<Float>, channels: Int, filters u: UnsafePointer<Float>,
                         output y: UnsafeMutablePointer<Float>, outChannels: Int, batch: Int, accumulate: Bool,
                         block: Int, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let share = scratchCount(inputs: channels, outputs: outChannels, tilesPerBlock: block, threads: 1)
        Self.forEachPart(blockCount(batch: batch, block: block), scratch: scratch, share: share, threads: threads) {
            b, scratch, threads in
            convolveBlock(first: b * block, block: block, input: x, channels: channels, filters: u, output: y,
                          outChannels: outChannels, batch: batch, accumulate: accumulate, scratch: scratch, threads: threads)
        }
    }

    /// body(part, its scratch, its threads) for parts 0 ..< parts: the threads take whole parts,
    /// each thread with its own `share` of the scratch and one thread inside; a lone part gets
    /// all the scratch and all the threads.
    private static func forEachPart(_ parts: Int, scratch: UnsafeMutablePointer<Float>, share: Int, threads: Int,
                                    _ body: (_ part: Int, _ scratch: UnsafeMutablePointer<Float>, _ threads: Int) -> Void) {
        if parts == 1 { body(0, scratch, threads); return }
        Parallel.forEach(count: parts, threads: threads) { worker, range in
            for part in range { body(part, scratch + worker * share, 1) }
        }
    }

    /// The tiles first ..< first + block of `convolve`, on `threads` threads.
    private func convolveBlock(first: Int, block: Int, input x: UnsafePointer<Float>, channels: Int,
                               filters u: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>, outChannels: Int,
                               batch: Int, accumulate: Bool, scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let pixels = batch * height * width, m32 = Int32(m), h32 = Int32(height), w32 = Int32(width)
        let count = min(block, batch * tilesPerImage - first), ld = Self.rowLength(count)
        let v = scratch, products = scratch + positions * channels * ld
        transformInputTiles(x, channels: channels, batch: batch, first: first, count: count, into: v, threads: threads)
        // products[pos] [K x tiles] = U[pos] [K x C] x V[pos] [C x tiles]
        GEMM.multiplyBatch(count: positions, transposeA: false, transposeB: false, m: outChannels, n: count,
                           k: channels, a: u, lda: channels, strideA: outChannels * channels,
                           b: v, ldb: ld, strideB: channels * ld,
                           c: products, ldc: ld, strideC: outChannels * ld, threads: threads)
        Parallel.forEach(count: outChannels, threads: threads) { _, ks in
            let (k0, k1) = (Int32(ks.lowerBound), Int32(ks.upperBound))
            if vectorPasses {
                ddp_winograd4_output_tiles_avx512(products, Int32(outChannels), k0, k1, h32, w32, first, Int32(count), ld,
                                                  y, pixels, accumulate ? 1 : 0)
            } else {
                ddp_winograd_output_tiles(m32, products, Int32(outChannels), k0, k1, h32, w32, first, Int32(count), ld, y,
                                          pixels, accumulate ? 1 : 0)
            }
        }
    }

    /// The weight gradient's sums over the tiles run in this many groups of blocks at most,
    /// each group's sums apart, added up in group order at the end: the threads take whole
    /// groups, and the grouping depends on the batch alone, so the thread count changes nothing.
    public static let gradientGroups = 4

    /// Floats of `sums` `weightGradient` needs: [gradientGroups][alpha^2][outChannels][inChannels].
    public func sumsCount(outChannels: Int, inChannels: Int) -> Int {
        Self.gradientGroups * positions * outChannels * inChannels
    }

    /// dw [outChannels][inChannels][3][3] = the weight gradient of the convolution of x
    /// [inChannels][N][H][W] whose output gradient is dy [outChannels][N][H][W]. `scratch` as
    /// for `convolve` with the same channels and threads, `sums` `sumsCount` floats.
    public func weightGradient(outputGradient dy: UnsafePointer<Float>, outChannels: Int, input x: UnsafePointer<Float>,
                               inChannels: Int, batch: Int, block: Int, scratch: UnsafeMutablePointer<Float>,
                               sums: UnsafeMutablePointer<Float>, into dw: UnsafeMutablePointer<Float>, threads: Int) {
        let blocks = blockCount(batch: batch, block: block), groups = min(blocks, Self.gradientGroups)
        let share = scratchCount(inputs: inChannels, outputs: outChannels, tilesPerBlock: block, threads: 1)
        let sumsPerGroup = positions * outChannels * inChannels
        Self.forEachPart(groups, scratch: scratch, share: share, threads: threads) { group, scratch, threads in
            let first = group * blocks / groups, end = (group + 1) * blocks / groups
            for b in first..<end {
                accumulateBlock(first: b * block, block: block, outputGradient: dy, outChannels: outChannels, input: x,
                                inChannels: inChannels, batch: batch, scratch: scratch,
                                sums: sums + group * sumsPerGroup, overwrite: b == first, threads: threads)
            }
        }
        for group in 1..<groups { Elementwise.add(sums, sums + group * sumsPerGroup, sums, count: sumsPerGroup) }
        ddp_winograd_filter_gradient(Int32(m), sums, Int32(outChannels), Int32(inChannels), dw)
    }

    /// sums[pos] [K x C] (+)= dY~[pos] [K x tiles] x V[pos]^T [tiles x C] over the tiles
    /// first ..< first + block, on `threads` threads.
    private func accumulateBlock(first: Int, block: Int, outputGradient dy: UnsafePointer<Float>, outChannels: Int,
                                 input x: UnsafePointer<Float>, inChannels: Int, batch: Int,
                                 scratch: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
                                 overwrite: Bool, threads: Int) {
        let pixels = batch * height * width, m32 = Int32(m), h32 = Int32(height), w32 = Int32(width)
        let count = min(block, batch * tilesPerImage - first), ld = Self.rowLength(count)
        let v = scratch, g = scratch + positions * inChannels * ld
        transformInputTiles(x, channels: inChannels, batch: batch, first: first, count: count, into: v, threads: threads)
        Parallel.forEach(count: outChannels, threads: threads) { _, ks in
            let (k0, k1) = (Int32(ks.lowerBound), Int32(ks.upperBound))
            if vectorPasses {
                ddp_winograd4_gradient_tiles_avx512(dy, pixels, Int32(outChannels), k0, k1, h32, w32, first, Int32(count), ld, g)
            } else {
                ddp_winograd_gradient_tiles(m32, dy, pixels, Int32(outChannels), k0, k1, h32, w32, first, Int32(count), ld, g)
            }
        }
        GEMM.multiplyBatch(count: positions, transposeA: false, transposeB: true, m: outChannels, n: inChannels,
                           k: count, a: g, lda: ld, strideA: outChannels * ld,
                           b: v, ldb: ld, strideB: inChannels * ld, beta: overwrite ? 0 : 1,
                           c: sums, ldc: inChannels, strideC: outChannels * inChannels, threads: threads)
    }

    /// V [alpha^2][channels][rowLength(count)] = B^T d B for the input tiles first ..< first +
    /// count of x [channels][N][H][W], the channels split over `threads`.
    private func transformInputTiles(_ x: UnsafePointer<Float>, channels: Int, batch: Int, first: Int, count: Int,
                                     into v: UnsafeMutablePointer<Float>, threads: Int) {
        let pixels = batch * height * width, ld = Self.rowLength(count)
        let (h32, w32) = (Int32(height), Int32(width))
        Parallel.forEach(count: channels, threads: threads) { _, cs in
            let (c0, c1) = (Int32(cs.lowerBound), Int32(cs.upperBound))
            if vectorPasses {
                ddp_winograd4_input_tiles_avx512(x, pixels, Int32(channels), c0, c1, h32, w32, first, Int32(count), ld, v)
            } else {
                ddp_winograd_input_tiles(Int32(m), x, pixels, Int32(channels), c0, c1, h32, w32, first, Int32(count), ld, v)
            }
        }
    }
}
