import ASTCore
import ASTData

/// How the synthetic set starts (docs/algorithm.md §3): random real images per class (MTT),
/// Gaussian noise, or AST's representative images (k-means on an expert's logits, nearest real
/// image per centre).
public enum SyntheticInitialization: String, Sendable, CaseIterable {
    case real
    case noise
    case representative
}

public enum SyntheticSet {
    /// ipc images per class, class-major (labels 0..0, 1..1, …).
    /// `expertParameters` (a trained expert's final θ) is needed for `.representative`.
    public static func initialize(
        _ method: SyntheticInitialization, ipc: Int, from data: ImageDataset,
        network: ConvNet, expertParameters: [Float]? = nil,
        seed: UInt64
    ) throws(ASTError) -> ImageDataset {
        guard ipc >= 1 else { throw .invalid("ipc \(ipc) must be at least 1") }
        let counts = data.classCounts
        if let c = counts.firstIndex(where: { $0 < ipc }), method != .noise {
            throw .invalid("ipc \(ipc) is larger than class \(c)'s \(counts[c]) images")
        }
        var rng = SeededGenerator(seed: derivedSeed(seed, 4))
        let labels = (0..<data.classes).flatMap { [Int32](repeating: Int32($0), count: ipc) }
        let n = data.classes * ipc
        switch method {
        case .noise:
            let images = (0..<(n * data.imageSize)).map { _ in Float(rng.nextNormal()) }
            return try ImageDataset(
                images: images, labels: labels, count: n, channels: data.channels,
                height: data.height, width: data.width, classes: data.classes)
        case .real:
            let picks = (0..<data.classes).flatMap { c -> [Int] in
                let pool = data.indices(ofClass: c)
                return rng.permutation(pool.count).prefix(ipc).map { pool[$0] }
            }
            return try data.subset(picks)
        case .representative:
            guard let theta = expertParameters else {
                throw .invalid("representative initialization needs an expert's parameters")
            }
            var picks: [Int] = []
            for c in 0..<data.classes {
                let pool = data.indices(ofClass: c)
                let logits = try network.logits(
                    images: try data.subset(pool).images, count: pool.count, parameters: theta)
                let chosen = try representatives(
                    of: logits, dimension: network.config.classes, k: ipc,
                    seed: derivedSeed(seed, 5, UInt64(c)))
                picks += chosen.map { pool[$0] }
            }
            return try data.subset(picks)
        }
    }

    /// Indices of k distinct rows of `points` (count × dimension) nearest to the centres of a
    /// k-means clustering (k-means++ seeding, Lloyd iterations), one per centre.
    public static func representatives(
        of points: [Float], dimension d: Int, k: Int, seed: UInt64,
        iterations: Int = 100
    ) throws(ASTError) -> [Int] {
        guard d > 0, points.count % d == 0 else { throw .shape("k-means: \(points.count) values are not rows of \(d)") }
        let n = points.count / d
        guard k >= 1, k <= n else { throw .invalid("k-means: k \(k) must be in 1...\(n)") }
        guard points.allSatisfy(\.isFinite) else { throw ASTError(.nonFinite, "k-means: points contain NaN or Inf") }
        var rng = SeededGenerator(seed: seed)
        func distance(_ i: Int, _ centre: ArraySlice<Double>) -> Double {
            var s = 0.0
            for j in 0..<d { let t = Double(points[i * d + j]) - centre[centre.startIndex + j]; s += t * t }
            return s
        }
        // k-means++ seeding.
        var centres = [Double]()
        let first = rng.nextInt(below: n)
        centres += (0..<d).map { Double(points[first * d + $0]) }
        var nearest = (0..<n).map { distance($0, centres[0..<d]) }
        while centres.count < k * d {
            let total = nearest.reduce(0, +)
            var pick = n - 1
            if total > 0 {
                var r = rng.nextUniform() * total
                for i in 0..<n { r -= nearest[i]; if r < 0 { pick = i; break } }
            } else {
                pick = rng.nextInt(below: n)
            }
            let c = centres.count / d
            centres += (0..<d).map { Double(points[pick * d + $0]) }
            for i in 0..<n { nearest[i] = min(nearest[i], distance(i, centres[(c * d)..<((c + 1) * d)])) }
        }
        // Lloyd iterations.
        var assignment = [Int](repeating: -1, count: n)
        for _ in 0..<iterations {
            var changed = false
            for i in 0..<n {
                var best = 0, bestDistance = Double.infinity
                for c in 0..<k {
                    let dist = distance(i, centres[(c * d)..<((c + 1) * d)])
                    if dist < bestDistance { bestDistance = dist; best = c }
                }
                if assignment[i] != best { assignment[i] = best; changed = true }
            }
            if !changed { break }
            var sums = [Double](repeating: 0, count: k * d), sizes = [Int](repeating: 0, count: k)
            for i in 0..<n {
                sizes[assignment[i]] += 1
                for j in 0..<d { sums[assignment[i] * d + j] += Double(points[i * d + j]) }
            }
            for c in 0..<k where sizes[c] > 0 {
                for j in 0..<d { centres[c * d + j] = sums[c * d + j] / Double(sizes[c]) }
            }
        }
        // The nearest not-yet-chosen point to each centre.
        var chosen: [Int] = []
        var used = Set<Int>()
        for c in 0..<k {
            let order = (0..<n).sorted {
                distance($0, centres[(c * d)..<((c + 1) * d)]) < distance($1, centres[(c * d)..<((c + 1) * d)])
            }
            if let pick = order.first(where: { !used.contains($0) }) {
                chosen.append(pick)
                used.insert(pick)
            }
        }
        return chosen
    }
}
