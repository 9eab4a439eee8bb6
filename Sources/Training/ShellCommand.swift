/// A command as a line a user can paste into a shell: words quoted only where needed (as
/// scripts/launch.sh --dry-run prints its command), so a hint reads like what one would type.
public enum ShellCommand {
    public static func line(_ words: [String]) -> String {
        words.map(quote).joined(separator: " ")
    }

    static func quote(_ word: String) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_./,:=+@%^-".unicodeScalars.contains($0)
        }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
