/// The names of the classes of the data sets ddp knows, in label order; other data sets name
/// theirs (folder names) or number them.
public enum ClassNames {
    /// Fashion-MNIST's labels, as its README names them.
    public static let fashionMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// CIFAR-10's `batches.meta.txt`.
    public static let cifar10 = ["airplane", "automobile", "bird", "cat", "deer",
                                 "dog", "frog", "horse", "ship", "truck"]

    /// The names for data set `name` when ddp knows them and the count matches, else "0", "1", ...
    public static func known(dataset name: String, classes: Int) -> [String] {
        let names: [String]? = switch name {
        case "fashion-mnist": fashionMNIST
        case "cifar10": cifar10
        default: nil
        }
        if let names, names.count == classes { return names }
        return (0..<classes).map(String.init)
    }
}
