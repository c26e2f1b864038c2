import Testing
import ASTCore
import ASTDistill
#if canImport(Glibc)
import Glibc
#endif

/// Reference values for the ZCA tests, made at development time with numpy 2.4.6 in float64:
///
///     N, D, eps = 40, 12, 0.1
///     n = np.arange(N)[:, None]; d = np.arange(D)[None, :]
///     x = (np.sin(0.9*n*(d+1) + 0.3*d) + 0.1*d*np.cos(0.5*n + d)).astype(np.float32)
///     mu = x.astype(np.float64).mean(0);  C = (x - mu).T @ (x - mu) / (N - 1)
///     S, U = np.linalg.eigh(C)     # eigenvalues 1.4e-3 … 2.24 (two below eps)
///     transform = U @ diag(1/sqrt(S + eps)) @ U.T;   inverse = U @ diag(sqrt(S + eps)) @ U.T
///     whitenedCovariance = U @ diag(S/(S + eps)) @ U.T
///
/// (kornia's ZCAWhitening(eps=0.1) gives the same matrices; it uses an SVD of the same
/// symmetric positive semi-definite C.) `ZCAReference.data()` rebuilds x with the same formula.
enum ZCAReference {
    static let count = 40, features = 12

    static func data() -> [Float] {
        var x = [Float](repeating: 0, count: count * features)
        for n in 0..<count {
            for d in 0..<features {
                let (nn, dd) = (Double(n), Double(d))
                x[n * features + d] = Float(sin(0.9 * nn * (dd + 1) + 0.3 * dd) + 0.1 * dd * cos(0.5 * nn + dd))
            }
        }
        return x
    }

    static let mean: [Double] = [
        0.04158551897853613, 0.0249588267179206, -0.009769526007585228, -0.010249532107263804,
        0.015639544883742928, 0.015042740758508444, 0.8658529413864017, -0.005656378506682813,
        -0.02394957710057497, -0.033559862547554074, -0.03219677901361138, 0.01353155542165041
    ]
    static let transform: [Double] = [
        1.6996072676479232, -0.1198928653460689, -0.050440193626354636, 0.09988670913494971,
        0.1826418982358432, -0.3870530062429405, -0.06182529159202035, 0.6537949363659509,
        -0.07918953683537142, 0.06840481885455613, 0.181991166971991, 0.15385199967772933,
        -0.11989286534606887, 1.5790122652221368, -0.1392062092176651, 0.13958346670041985,
        -0.2828487564652835, 0.12834971277800447, 0.11348066529364759, -0.225039421081774,
        0.5042754936877389, -0.09523705267875301, 0.1441010967129785, -0.014461084638244557,
        -0.05044019362635461, -0.13920620921766508, 1.765714336895697, -0.5740778429834439,
        0.16409710261721383, 0.057955700462749477, 0.14381360592047499, -0.08486012476613837,
        -0.15523794050736284, 0.5511200887625846, -0.3558472175964654, 0.17632444933460148,
        0.09988670913494971, 0.13958346670041988, -0.5740778429834439, 1.7186642526089553,
        -0.1694360839360632, -0.07542640398148628, 0.10466840954280228, 0.1425557827847071,
        0.060019153877343905, -0.49357483939118824, 0.4474866923764084, -0.14707407977046444,
        0.18264189823584323, -0.2828487564652835, 0.16409710261721383, -0.16943608393606324,
        1.4271774139742157, -0.16683306697923683, -0.114901096414719, 0.24361130045865337,
        -0.09054411742228266, 0.07303059539408698, -0.23673508499969426, 0.2957343866470381,
        -0.3870530062429405, 0.12834971277800453, 0.05795570046274948, -0.07542640398148628,
        -0.16683306697923686, 1.4323569104340692, -0.05790109110806399, -0.4219350021839599,
        0.078192949039923, 0.05171814317595734, -0.09233271948253964, -0.22458910576279328,
        -0.06182529159202028, 0.11348066529364759, 0.14381360592047496, 0.10466840954280228,
        -0.11490109641471907, -0.05790109110806399, 2.516634621496633, -0.0962388878165051,
        0.11960956938013274, 0.5027438368221057, 0.42449547797715015, -0.147675551709759,
        0.6537949363659509, -0.22503942108177405, -0.08486012476613838, 0.1425557827847071,
        0.24361130045865342, -0.4219350021839598, -0.09623888781650498, 1.6267127156580554,
        -0.13294170885496837, 0.06840068575470218, 0.27795736768030993, 0.26682118685575074,
        -0.0791895368353714, 0.504275493687739, -0.15523794050736278, 0.060019153877343884,
        -0.09054411742228265, 0.07819294903992294, 0.11960956938013272, -0.13294170885496834,
        1.7474974199598388, -0.12117094237988729, 0.06091402847177443, 0.6674191031221697,
        0.06840481885455611, -0.095237052678753, 0.5511200887625844, -0.49357483939118824,
        0.07303059539408699, 0.051718143175957354, 0.5027438368221057, 0.0684006857547022,
        -0.12117094237988732, 1.4366831380807374, -0.022270810023515594, 0.1139035298141561,
        0.181991166971991, 0.1441010967129785, -0.35584721759646554, 0.44748669237640853,
        -0.23673508499969423, -0.09233271948253964, 0.42449547797715026, 0.27795736768030993,
        0.06091402847177448, -0.022270810023515615, 1.329700291957596, -0.19686287744020617,
        0.15385199967772933, -0.01446108463824454, 0.17632444933460154, -0.14707407977046444,
        0.29573438664703816, -0.22458910576279328, -0.14767555170975905, 0.2668211868557507,
        0.6674191031221696, 0.11390352981415612, -0.19686287744020617, 1.5263188708447888
    ]
    static let inverse: [Double] = [
        0.7215055511280615, 0.0036443692674380593, 0.005625708072267401, -0.021630807511661514,
        -0.04181173189133395, 0.11531012138334, 0.025748427702871668, -0.2356301161985198,
        0.010410391883557822, -0.0422752253296773, -0.052136981673126546, -0.014797825344675445,
        0.0036443692674380597, 0.7407396088873902, 0.007928545470690856, -0.027160932965726248,
        0.09379712781506551, -0.019182282598958367, -0.005836955729361255, 0.06387655902845338,
        -0.22217374804908582, 0.007186242406278691, -0.046298966361160675, 0.06103291760199717,
        0.005625708072267393, 0.007928545470690874, 0.7214681434393238, 0.13648090969033227,
        -0.023291294649410908, -0.018147415486547, -0.03686972590904992, 0.02624531510709994,
        0.07245916517545653, -0.20191366658959078, 0.12828180254512075, -0.07707026851445388,
        -0.021630807511661486, -0.02716093296572623, 0.13648090969033227, 0.7499766732061001,
        0.03231362555813907, 0.0016415145007937868, -0.053226204112068874, -0.04138548052708606,
        0.012917562490382645, 0.22103232159962463, -0.17387394039272497, 0.009919284060413718,
        -0.04181173189133396, 0.09379712781506548, -0.0232912946494109, 0.03231362555813905,
        0.7983886263122221, 0.036607483831133325, -0.002549182784988236, -0.07976162400634393,
        0.04803573049589547, 0.00730728714587088, 0.1191659369663706, -0.13088227222132168,
        0.11531012138333997, -0.019182282598958437, -0.018147415486547008, 0.0016415145007937877,
        0.03660748383113336, 0.8031628189875664, 0.050774827803406294, 0.12930972638564586,
        -0.07093769066979248, -0.06932742213497294, 0.020181442253929538, 0.12264089098130018,
        0.025748427702871675, -0.005836955729361257, -0.036869725909049925, -0.05322620411206886,
        -0.0025491827849882225, 0.050774827803406294, 0.4742659930173982, 0.05019686422618994,
        -0.06217604856534597, -0.18837611223224326, -0.14447935182185626, 0.0641673312296636,
        -0.2356301161985198, 0.06387655902845339, 0.026245315107099914, -0.04138548052708604,
        -0.07976162400634394, 0.12930972638564586, 0.050196864226189936, 0.8341535634656274,
        0.082281047953442, -0.0510796730412002, -0.17526939166130587, -0.14391982296761655,
        0.010410391883557833, -0.22217374804908585, 0.07245916517545653, 0.012917562490382657,
        0.048035730495895455, -0.07093769066979252, -0.06217604856534599, 0.08228104795344203,
        0.8295462413511089, 0.08228416419417464, -0.05579537503007578, -0.4265009044841134,
        -0.04227522532967732, 0.007186242406278695, -0.20191366658959078, 0.22103232159962466,
        0.0073072871458708935, -0.06932742213497298, -0.18837611223224326, -0.05107967304120026,
        0.08228416419417463, 0.9352064362419104, -0.05680918472394123, -0.08505894558827334,
        -0.052136981673126546, -0.04629896636116069, 0.1282818025451208, -0.17387394039272497,
        0.11916593696637062, 0.02018144225392952, -0.14447935182185628, -0.17526939166130587,
        -0.05579537503007576, -0.05680918472394123, 0.9825587646876206, 0.12515069995674452,
        -0.014797825344675431, 0.061032917601997146, -0.07707026851445388, 0.009919284060413739,
        -0.1308822722213217, 0.12264089098130017, 0.0641673312296636, -0.14391982296761655,
        -0.4265009044841134, -0.08505894558827339, 0.12515069995674452, 0.9508599021577631
    ]
    static let whitenedCovariance: [Double] = [
        0.6402259566024142, 0.0650050510229193, 0.025991845852998446, -0.04589356088725344,
        -0.08253222273697353, 0.1594843197134173, 0.02531178468426594, -0.25408296983818074,
        0.03552408856107641, -0.017888063719767828, -0.07080250425185311, -0.07180938220065745,
        0.06500505102291924, 0.7009148265236109, 0.07278477532832751, -0.06901645905237959,
        0.10989672832160303, -0.05743349306098936, -0.05892471107964246, 0.0939428086047298,
        -0.18067623108871098, 0.04793411207036631, -0.05857424324283083, 3.57332859139039e-05,
        0.025991845852998446, 0.07278477532832754, 0.5987044888417041, 0.25204995653142764,
        -0.07952006784369024, -0.02400248937039508, -0.06104596456096112, 0.036321731715400964,
        0.059866025735326234, -0.21863608907012066, 0.14508061332956923, -0.06800022290100817,
        -0.045893560887253444, -0.0690164590523796, 0.25204995653142764, 0.6152398016336417,
        0.08040869209074823, 0.03587495067546134, -0.035123502495411595, -0.05833879519573065,
        -0.03515497490444314, 0.18681400450148397, -0.17814124335805676, 0.06799713188445308,
        -0.08253222273697351, 0.10989672832160309, -0.07952006784369024, 0.08040869209074823,
        0.7536750668504901, 0.07057686846165752, 0.062273832691612754, -0.10005342560878638,
        0.03652540986458277, -0.042284516096510065, 0.0825401441043983, -0.1073424068142455,
        0.1594843197134173, -0.05743349306098939, -0.02400248937039509, 0.035874950675461335,
        0.07057686846165748, 0.7496052541301496, 0.010061502761767713, 0.17158535110608145,
        -0.023297923301336836, -0.007569675170635746, 0.04158877869718767, 0.07816926924843019,
        0.025311784684265946, -0.05892471107964246, -0.061045964560961105, -0.035123502495411615,
        0.062273832691612754, 0.010061502761767697, 0.31233331088217986, 0.036847788505124414,
        -0.04411578377349006, -0.19413298331692663, -0.1664473058144432, 0.05913627583055007,
        -0.25408296983818074, 0.0939428086047298, 0.036321731715400964, -0.05833879519573065,
        -0.10005342560878636, 0.17158535110608145, 0.036847788505124414, 0.643074825780198,
        0.047193537592884444, -0.014645921261491725, -0.08805878596903918, -0.09545705576763547,
        0.0355240885610764, -0.18067623108871098, 0.059866025735326234, -0.03515497490444313,
        0.036525409864582775, -0.02329792330133683, -0.044115783773490076, 0.04719353759288446,
        0.6147853397076166, 0.04313155483280873, -0.022714345186531284, -0.20060653110148657,
        -0.01788806371976782, 0.04793411207036628, -0.2186360890701207, 0.18681400450148397,
        -0.04228451609651006, -0.007569675170635747, -0.19413298331692663, -0.01464592126149171,
        0.04313155483280872, 0.7081252117159348, 0.029931062122486758, -0.03966684479281834,
        -0.07080250425185314, -0.058574243242830816, 0.14508061332956923, -0.17814124335805676,
        0.08254014410439832, 0.041588778697187676, -0.16644730581444317, -0.0880587859690392,
        -0.022714345186531287, 0.029931062122486755, 0.7486152599527585, 0.0664564570839197,
        -0.07180938220065747, 3.5733285913856506e-05, -0.06800022290100817, 0.06799713188445307,
        -0.1073424068142455, 0.07816926924843018, 0.059136275830550075, -0.09545705576763547,
        -0.20060653110148655, -0.03966684479281833, 0.06645645708391971, 0.6865672073324568
    ]
}

/// The kind of ASTError `body` throws (nil when it does not throw; `.internal` for other errors).
private func errorKind(_ body: () throws -> Void) -> ASTError.Kind? {
    do { try body(); return nil } catch let e as ASTError { return e.kind } catch { return .internal }
}

/// max |a − b| over all elements.
private func maxDifference(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
}

/// Unbiased covariance (D × D) of rows (N × D), in Double.
private func covariance(_ x: [Float], count n: Int, features d: Int) -> [Double] {
    var mu = [Double](repeating: 0, count: d)
    for r in 0..<n { for k in 0..<d { mu[k] += Double(x[r * d + k]) / Double(n) } }
    var c = [Double](repeating: 0, count: d * d)
    for r in 0..<n {
        for i in 0..<d {
            for j in 0..<d { c[i * d + j] += (Double(x[r * d + i]) - mu[i]) * (Double(x[r * d + j]) - mu[j]) }
        }
    }
    return c.map { $0 / Double(n - 1) }
}

@Suite struct ZCAWhiteningTests {
    let x = ZCAReference.data()
    var tensor: Tensor<Float> { (try? Tensor<Float>(shape: [ZCAReference.count, ZCAReference.features], scalars: x))! }

    /// The fitted Float mean and matrices equal numpy's float64 ones to Float rounding
    /// (entries are at most ~3 in size; 2e-6 absolute is ~10 Float ulps there).
    @Test func matchesNumpyReference() throws {
        let zca = try ZCAWhitening(fitting: tensor)
        #expect(zca.featureCount == 12)
        #expect(maxDifference(zca.mean, ZCAReference.mean) < 1e-6)
        #expect(maxDifference(zca.transform, ZCAReference.transform) < 2e-6)
        #expect(maxDifference(zca.inverseTransform, ZCAReference.inverse) < 2e-6)
    }

    /// Whitened training data has covariance U S/(S + ε) Uᵀ (identity shrunk on small eigenvalues)
    /// and zero mean; tolerance 2e-5 absolute covers the Float gemm.
    @Test func whitenedCovariance() throws {
        let zca = try ZCAWhitening(fitting: tensor)
        let w = try zca.apply(tensor)
        #expect(w.shape == [40, 12])
        let c = covariance(w.scalars, count: 40, features: 12)
        let worst = zip(c, ZCAReference.whitenedCovariance).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
        #expect(worst < 2e-5, "max covariance error \(worst)")
        for k in 0..<12 {
            let m = (0..<40).reduce(0.0) { $0 + Double(w.scalars[$1 * 12 + k]) } / 40
            #expect(abs(m) < 1e-5)
        }
    }

    /// inverse(apply(x)) ≈ x, and apply agrees with (x − μ)T computed from the numpy reference.
    @Test func inverseUndoesApply() throws {
        let zca = try ZCAWhitening(fitting: tensor)
        let w = try zca.apply(tensor), back = try zca.inverse(w)
        let err = zip(back.scalars, x).reduce(0.0) { max($0, Double(abs($1.0 - $1.1))) }
        #expect(err < 1e-5, "round trip error \(err)")
        var worst = 0.0
        for r in 0..<40 {
            for j in 0..<12 {
                var v = 0.0
                for i in 0..<12 {
                    v += (Double(x[r * 12 + i]) - ZCAReference.mean[i]) * ZCAReference.transform[i * 12 + j]
                }
                worst = max(worst, abs(v - Double(w.scalars[r * 12 + j])))
            }
        }
        #expect(worst < 1e-5, "apply error \(worst)")
    }

    /// Images (N, C, H, W) are flattened per sample: same numbers as (N, D), shape kept.
    @Test func imageShapedInput() throws {
        let images = try Tensor<Float>(shape: [40, 3, 2, 2], scalars: x)
        let a = try ZCAWhitening(fitting: images), b = try ZCAWhitening(fitting: tensor)
        #expect(a == b)
        let w = try a.apply(images)
        #expect(w.shape == [40, 3, 2, 2])
        #expect(w.scalars == (try b.apply(tensor)).scalars)
        // The raw-buffer entry point gives the same values.
        var out = [Float](repeating: 0, count: x.count)
        try x.withUnsafeBufferPointer { input in
            try out.withUnsafeMutableBufferPointer { try a.apply(input, count: 40, into: $0) }
        }
        #expect(out == w.scalars)
    }

    /// Serialisation to plain arrays and back reproduces the whitening exactly.
    @Test func plainArraysRoundTrip() throws {
        let zca = try ZCAWhitening(fitting: tensor)
        let restored = try ZCAWhitening(mean: zca.mean, transform: zca.transform, inverse: zca.inverseTransform)
        #expect(restored == zca)
        #expect((try restored.apply(tensor)).scalars == (try zca.apply(tensor)).scalars)
    }

    /// A larger fit (D = 200, N = 25000: two covariance blocks) with ε = 0 whitens to the
    /// identity covariance (checked with a Double BLAS product; 1e-3 absolute covers Float
    /// rounding amplified by the condition number ~5e3).
    @Test func blockedCovariance() throws {
        var rng = SeededGenerator(seed: 5)
        let (n, d) = (25_000, 200)
        var data = [Float](repeating: 0, count: n * d)
        for r in 0..<n {
            let z = rng.nextNormal()
            for k in 0..<d { data[r * d + k] = Float(rng.nextNormal() * Double(k % 5 + 1) * 0.2 + z) }
        }
        let t = try Tensor<Float>(shape: [n, d], scalars: data)
        let zca = try ZCAWhitening(fitting: t, epsilon: 0)
        let w = try Tensor<Double>(shape: [n, d], scalars: zca.apply(t).scalars.map { Double($0) })
        let centred = try w.subtracting(w.mean(axes: [0], keepDims: true))
        let cov = try centred.matmul(centred, transposeSelf: true).scaled(by: 1 / Double(n - 1)).scalars
        var worst = 0.0
        for i in 0..<d { for j in 0..<d { worst = max(worst, abs(cov[i * d + j] - (i == j ? 1 : 0))) } }
        #expect(worst < 1e-3, "identity error \(worst)")
    }

    @Test func badInputIsRejected() throws {
        #expect(
            errorKind { _ = try ZCAWhitening(fitting: Tensor<Float>(shape: [1, 12], scalars: Array(x[0..<12]))) }
                == .invalidArgument)
        #expect(errorKind { _ = try ZCAWhitening(fitting: Tensor<Float>.zeros([0, 12])) } == .invalidArgument)
        #expect(errorKind { _ = try ZCAWhitening(fitting: Tensor<Float>.zeros([40])) } == .shapeMismatch)
        var bad = x
        bad[37] = .nan
        #expect(errorKind { _ = try ZCAWhitening(fitting: Tensor<Float>(shape: [40, 12], scalars: bad)) } == .nonFinite)
        #expect(errorKind { _ = try ZCAWhitening(fitting: tensor, epsilon: -1) } == .invalidArgument)
        #expect(errorKind { _ = try ZCAWhitening(fitting: tensor, epsilon: .nan) } == .invalidArgument)
        // Singular covariance (a constant feature) with ε = 0 cannot be whitened.
        var constant = x
        for r in 0..<40 { constant[r * 12 + 3] = 0.5 }
        #expect(
            errorKind { _ = try ZCAWhitening(fitting: Tensor<Float>(shape: [40, 12], scalars: constant), epsilon: 0) }
                == .invalidArgument)
        _ = try ZCAWhitening(fitting: Tensor<Float>(shape: [40, 12], scalars: constant))  // fine with ε = 0.1
        // Buffer entry point: count does not match the data.
        #expect(
            errorKind {
                try x.withUnsafeBufferPointer { b in _ = try ZCAWhitening(fitting: b, count: 41, featureCount: 12) }
            } == .shapeMismatch)

        let zca = try ZCAWhitening(fitting: tensor)
        #expect(errorKind { _ = try zca.apply(Tensor<Float>.zeros([2, 11])) } == .shapeMismatch)
        #expect(errorKind { _ = try zca.inverse(Tensor<Float>.zeros([2, 3, 2, 3])) } == .shapeMismatch)
        #expect(
            errorKind { _ = try zca.apply(Tensor<Float>(shape: [4, 12], scalars: Array(bad.prefix(48)))) } == .nonFinite
        )
        #expect(errorKind { _ = try ZCAWhitening(mean: [], transform: [], inverse: []) } == .invalidArgument)
        #expect(
            errorKind {
                _ = try ZCAWhitening(
                    mean: zca.mean, transform: Array(zca.transform.dropLast()), inverse: zca.inverseTransform)
            } == .shapeMismatch)
        var nanTransform = zca.transform
        nanTransform[5] = .infinity
        #expect(
            errorKind { _ = try ZCAWhitening(mean: zca.mean, transform: nanTransform, inverse: zca.inverseTransform) }
                == .nonFinite)
    }
}

@Suite struct ChannelNormalizationTests {
    /// Fitted per-channel mean and population std match direct computation; the normalised
    /// set has mean 0 and std 1 per channel; inverse undoes apply.
    @Test func fitApplyInverse() throws {
        var rng = SeededGenerator(seed: 11)
        let (n, c, plane) = (7, 3, 20)
        var data = [Float](repeating: 0, count: n * c * plane)
        for i in 0..<n {
            for ch in 0..<c {
                for k in 0..<plane {
                    data[(i * c + ch) * plane + k] = Float(rng.nextNormal() * Double(ch + 1) + Double(ch) * 0.3)
                }
            }
        }
        let x = try Tensor<Float>(shape: [n, c, 4, 5], scalars: data)
        let norm = try ChannelNormalization(fitting: x)
        #expect(norm.channelCount == 3)
        for ch in 0..<c {
            var values: [Double] = []
            for i in 0..<n { for k in 0..<plane { values.append(Double(data[(i * c + ch) * plane + k])) } }
            let m = values.reduce(0, +) / Double(values.count)
            let sd = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)).squareRoot()
            #expect(abs(Double(norm.mean[ch]) - m) < 1e-6)
            #expect(abs(Double(norm.std[ch]) - sd) < 1e-6)
        }
        let y = try norm.apply(x)
        let refit = try ChannelNormalization(fitting: y)
        for ch in 0..<c {
            #expect(abs(refit.mean[ch]) < 1e-6)
            #expect(abs(refit.std[ch] - 1) < 1e-5)
        }
        let back = try norm.inverse(y)
        #expect(zip(back.scalars, data).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func knownConstantsAndErrors() throws {
        let mnist = try ChannelNormalization(mean: [0.1307], std: [0.3081])
        let y = try mnist.apply(Tensor<Float>(shape: [1, 1, 1, 2], scalars: [0, 1]))
        #expect(abs(y.scalars[0] - (-0.1307 / 0.3081)) < 1e-6 && abs(y.scalars[1] - (0.8693 / 0.3081)) < 1e-6)

        #expect(errorKind { _ = try ChannelNormalization(mean: [0], std: [0]) } == .invalidArgument)
        #expect(errorKind { _ = try ChannelNormalization(mean: [0, 1], std: [1]) } == .shapeMismatch)
        #expect(errorKind { _ = try ChannelNormalization(mean: [.nan], std: [1]) } == .nonFinite)
        #expect(errorKind { _ = try mnist.apply(Tensor<Float>.zeros([1, 3, 2, 2])) } == .shapeMismatch)
        #expect(
            errorKind { _ = try ChannelNormalization(fitting: Tensor<Float>.zeros([2, 1, 2, 2])) } == .invalidArgument)
        #expect(
            errorKind { _ = try ChannelNormalization(fitting: Tensor<Float>.zeros([0, 1, 2, 2])) } == .shapeMismatch)
        #expect(
            errorKind { _ = try ChannelNormalization(fitting: Tensor<Float>(shape: [1, 1, 1, 2], scalars: [1, .nan])) }
                == .nonFinite)
    }
}
