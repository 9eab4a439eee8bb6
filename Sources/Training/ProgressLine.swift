import Formats
import Foundation
import Platform

/// Rank 0's live progress: epoch, step, loss, images/s and the epoch's ETA. On a terminal it
/// rewrites one line; in a log file it prints a line every few seconds instead.
final class ProgressLine {
    private let log: (String) -> Void
    private let interactive: Bool
    private let enabled: Bool
    private var lastPrint = 0.0
    private var smoothed: Double?
    private var drawn = false
    /// Appended to the line while set: the straggler, when one is known (`RankTimes`).
    var note: String?

    init(log: @escaping (String) -> Void, enabled: Bool) {
        self.log = log
        self.enabled = enabled
        interactive = enabled && isatty(STDERR_FILENO) != 0
    }

    func update(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, elapsed: Double, images: Int) {
        guard enabled else { return }
        smoothed = smoothed.map { 0.95 * $0 + 0.05 * loss } ?? loss
        let now = MonotonicClock.seconds()
        let interval = interactive ? 0.25 : 10.0
        guard now - lastPrint >= interval || step == steps else { return }
        lastPrint = now
        let line = Self.text(epoch: epoch, epochs: epochs, step: step, steps: steps, loss: smoothed ?? loss,
                             elapsed: elapsed, images: images) + (note.map { "  " + $0 } ?? "")
        if interactive {
            FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
            drawn = true
        } else if step != steps {
            log(line)
        }
    }

    /// "epoch 2/10  step 50/100  loss 0.3142  800 img/s  ETA 1m05s": `images` were trained in the
    /// `elapsed` seconds of this epoch's first `step` steps; the ETA assumes the rest go as fast.
    static func text(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, elapsed: Double, images: Int) -> String {
        let rate = Double(images) / max(elapsed, 1e-9)
        let eta = Double(steps - step) * elapsed / Double(max(step, 1))
        return String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.0f img/s  ETA %@",
                      epoch, epochs, step, steps, loss.printable, rate, duration(eta))
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)); drawn = false }
    }

    static func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m"
            : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
    }
}
