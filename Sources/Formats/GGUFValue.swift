// GGUF metadata values: the 13 value types of the GGUF spec (arrays may nest) and an ordered key/value
// store that keeps the file's order (writers reproduce it byte for byte).

public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        }
    }

    /// Bytes of one value on disk, or the least it can take (string: its u64 length; array: type + count).
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array of `elementType`; every element has that type (nested arrays are `.array` elements).
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// Any integer type as Int (nil if not an integer or out of Int's range).
    public var int: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(exactly: v)
        default: nil
        }
    }

    /// Any numeric type as Double.
    public var double: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var bool: Bool? { if case let .bool(b) = self { b } else { nil } }
    public var array: [GGUFValue]? { if case let .array(_, a) = self { a } else { nil } }

    /// `[String]` for a string array.
    public var strings: [String]? {
        guard case let .array(.string, a) = self else { return nil }
        return a.map { $0.string! }
    }

    /// Convenience constructors for arrays.
    public static func strings(_ a: [String]) -> GGUFValue { .array(.string, a.map { .string($0) }) }
    public static func int32s(_ a: [Int32]) -> GGUFValue { .array(.int32, a.map { .int32($0) }) }
    public static func float32s(_ a: [Float]) -> GGUFValue { .array(.float32, a.map { .float32($0) }) }
}

/// Ordered GGUF metadata: keys in file order, unique, with lookup by key.
public struct GGUFMetadata: Sendable, Sequence {
    public private(set) var entries: [(key: String, value: GGUFValue)] = []
    private var index: [String: Int] = [:]

    public init() {}

    public var count: Int { entries.count }
    public func makeIterator() -> IndexingIterator<[(key: String, value: GGUFValue)]> { entries.makeIterator() }

    public subscript(key: String) -> GGUFValue? {
        get { index[key].map { entries[$0].value } }
        set {
            if let i = index[key] {
                if let v = newValue { entries[i].value = v } else { remove(key) }
            } else if let v = newValue {
                index[key] = entries.count
                entries.append((key, v))
            }
        }
    }

    public func contains(_ key: String) -> Bool { index[key] != nil }

    public mutating func remove(_ key: String) {
        guard let i = index.removeValue(forKey: key) else { return }
        entries.remove(at: i)
        for j in i..<entries.count { index[entries[j].key] = j }
    }

    /// Adds a key read from a file; false if it was already present (duplicate keys are an error there).
    mutating func appendNew(_ key: String, _ value: GGUFValue) -> Bool {
        if index[key] != nil { return false }
        index[key] = entries.count
        entries.append((key, value))
        return true
    }
}
