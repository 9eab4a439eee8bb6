/// The Okabe-Ito palette: eight colours that stay distinguishable with the common forms of
/// colour blindness and in greyscale print (Okabe & Ito, "Color Universal Design", 2002).
public enum ChartColor {
    public static let blue = "#0072B2"
    public static let orange = "#E69F00"
    public static let vermillion = "#D55E00"
    public static let green = "#009E73"
    public static let skyBlue = "#56B4E9"
    public static let purple = "#CC79A7"
    public static let yellow = "#F0E442"
    public static let gray = "#555555"
}
