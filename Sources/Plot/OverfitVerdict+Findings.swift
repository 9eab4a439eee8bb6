import Foundation

/// Rules 2-5 of `OverfitVerdict`, one function per verdict, over the curves they all read.
extension OverfitVerdict {
    /// The parts of a verdict that depend on which rule fired.
    struct Finding {
        var kind: Kind
        var overfitEpoch: Int? = nil
        var testRiseEpoch: Int? = nil
        var divergenceEpoch: Int? = nil
        var summary: String
        var advice: String
    }

    /// The losses of the epochs with both losses finite (at least `minimumEpochs`), and what
    /// every rule reads from them.
    struct Curves {
        let records: [MetricsLog.Epoch]
        let train: [Double]
        let test: [Double]
        let epochs: [Int]
        let last: Int
        /// K: the index of the minimum test loss (rule 2).
        let k: Int
        let testTolerance: Double
        let trainNoise: Double
        /// The test loss lies above test(K) + tol over the last `epochsToConfirm` epochs.
        let testRose: Bool
        /// The best test-accuracy epoch, and the sentence naming it that ends most advice.
        let best: MetricsLog.Epoch?
        let bestText: String

        init(_ usable: [MetricsLog.Epoch], best: MetricsLog.Epoch?) {
            records = usable
            train = usable.map(\.trainLoss)
            test = usable.map(\.testLoss)
            epochs = usable.map(\.epoch)
            last = usable.count - 1
            k = OverfitVerdict.minimumIndex(test)
            testTolerance = Swift.max(noiseMultiple * noise(test), relativeTolerance * test[k])
            trainNoise = noise(train)
            let (k, last, test, tolerance) = (k, last, test, testTolerance)
            testRose = last - k >= epochsToConfirm
                && ((last + 1 - epochsToConfirm)...last).allSatisfy { test[$0] > test[k] + tolerance }
            self.best = best
            bestText = OverfitVerdict.bestText(best)
        }

        /// The last `epochsToConfirm` indices.
        var tail: ClosedRange<Int> { (last + 1 - epochsToConfirm)...last }

        func trainTolerance(_ level: Double) -> Double {
            Swift.max(noiseMultiple * trainNoise, relativeTolerance * level)
        }
    }

    static func bestText(_ best: MetricsLog.Epoch?) -> String {
        best.map { "the best test accuracy is \(percent($0.testAccuracy)) at epoch \($0.epoch)" }
            ?? "no test accuracy was recorded"
    }

    /// Rule 3: the train loss itself turned up (the step size, not the data, is the problem).
    static func diverging(_ c: Curves) -> Finding? {
        let j = c.train.indices.min { c.train[$0] < c.train[$1] }!
        guard c.last - j >= epochsToConfirm,
              c.tail.allSatisfy({ c.train[$0] > c.train[j] + c.trainTolerance(c.train[j]) }),
              c.test[c.last] > c.test[c.k] + c.testTolerance else { return nil }
        return Finding(
            kind: .diverging, divergenceEpoch: c.epochs[j],
            summary: "diverging since epoch \(c.epochs[j]): train loss rose from \(loss(c.train[j])) "
                + "to \(loss(c.train[c.last])) and test loss from \(loss(c.test[c.k])) to \(loss(c.test[c.last]))",
            advice: "lower the learning rate (--lr), add warm-up (--warmup-epochs) or clip gradients, "
                + "and restart from the checkpoint of epoch \(c.epochs[j]); \(c.bestText)")
    }

    /// Rule 4: the gap test - train widened, for good and by more than noise, since its narrowest epoch.
    static func overfitting(_ c: Curves) -> Finding? {
        let gap = zip(c.test, c.train).map { $0 - $1 }
        let narrowest = minimumIndex(gap.map(Swift.abs))
        guard let start = wideningStart(train: c.train, test: c.test, gap: gap, narrowest: narrowest) else {
            return nil
        }
        let (last, k) = (c.last, c.k)
        let summary = "over-fitting since epoch \(c.epochs[start]): test loss minus train loss widened from "
            + "\(self.gap(gap[start])) to \(self.gap(gap[last])) (epoch \(c.epochs[last])) as train loss "
            + "fell from \(loss(c.train[start])) to \(loss(c.train[last])) and test loss went from "
            + "\(loss(c.test[start])) to \(loss(c.test[last]))"
            + (c.testRose ? "; the test loss has risen since epoch \(c.epochs[k]), from \(loss(c.test[k]))"
                + " to \(loss(c.test[last]))"
                : "; the test loss has not turned up: it is at or near its minimum \(loss(c.test[k])) (epoch \(c.epochs[k]))")
        guard c.testRose else {
            return Finding(
                kind: .overfitting, overfitEpoch: c.epochs[start], summary: summary,
                advice: "no epoch is worth going back to yet (\(c.bestText)); to close the gap regularise: more data "
                    + "or augmentation (--augment), dropout, weight decay (--weight-decay); in a longer run stop early "
                    + "once the test loss stops falling")
        }
        let stop = c.best.map { "stop early at epoch \($0.epoch) (best test accuracy \(percent($0.testAccuracy)))" }
            ?? "stop early at epoch \(c.epochs[k]) (lowest test loss)"
        return Finding(
            kind: .overfitting, overfitEpoch: c.epochs[start], testRiseEpoch: c.epochs[k], summary: summary,
            advice: "\(stop), or regularise: more data or augmentation (--augment), dropout, weight decay (--weight-decay)")
    }

    /// Rule 5: neither diverging nor over-fitting: still improving, both high, or levelled off.
    static func levelled(_ c: Curves, rates: [Double]) -> Finding {
        let (before, last, k) = (c.last - 2, c.last, c.k)
        let testDrop = c.test[before] - c.test[last]
        let trainDrop = c.train[before] - c.train[last]
        if testDrop > c.testTolerance && trainDrop > c.trainTolerance(c.train[last]) {
            return Finding(
                kind: .stillImproving,
                summary: "under-fitting: train and test loss are both still falling (over the last 2 epochs test "
                    + "loss \(change(c.test[before], c.test[last])), train loss \(change(c.train[before], c.train[last])))",
                advice: "train for more epochs: the loss has not levelled off yet; \(c.bestText)")
        }
        let trainAccuracy = c.records[last].trainAccuracy
        if trainDrop <= c.trainTolerance(c.train[last]), trainAccuracy.isFinite, trainAccuracy < lowTrainAccuracy {
            return Finding(
                kind: .underfitting,
                summary: "under-fitting: train and test loss are both high and flat (train loss \(loss(c.train[last])), "
                    + "test loss \(loss(c.test[last])), train accuracy \(percent(trainAccuracy)))",
                advice: "the model cannot fit the training data: use a bigger model, a higher learning rate or a "
                    + "longer schedule, or less regularisation (dropout, weight decay); \(c.bestText)")
        }
        let gap = zip(c.test, c.train).map { $0 - $1 }
        let narrowest = minimumIndex(gap.map(Swift.abs))
        return Finding(
            kind: .noOverfitting,
            summary: "no over-fitting yet: the test loss is at or near its minimum \(loss(c.test[k])) (epoch "
                + "\(c.epochs[k])); test loss minus train loss is \(self.gap(gap[last])) at epoch "
                + "\(c.epochs[last]) (narrowest \(self.gap(gap[narrowest])) at epoch \(c.epochs[narrowest]))",
            advice: scheduleAdvice(rates) + "; watch the gap; \(c.bestText)")
    }
}
