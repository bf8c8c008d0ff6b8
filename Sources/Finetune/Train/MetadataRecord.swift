// MetadataRecord: GGUF metadata (the tokenizer's `tokenizer.ggml.*` keys) as plain Codable JSON, so a
// checkpoint's state.json carries the tokenizer and a resumed run or an export rebuilds it exactly.
//
//   {"key": "tokenizer.ggml.tokens", "type": "array", "elementType": "string", "strings": ["\n", " ", …]}
//   {"key": "tokenizer.ggml.bos_token_id", "type": "uint32", "integer": 3}
//
// Scalars: integers in `integer`, floats in `number`, booleans in `bool`, strings in `string`; arrays of one
// scalar type in `strings` / `integers` / `numbers` / `bools`. Nested arrays are not used by tokenizers and
// are refused.

import Formats

public struct MetadataRecord: Codable, Equatable, Sendable {
    public var key: String
    public var type: String
    public var elementType: String?
    public var string: String?
    public var integer: Int64?
    public var number: Double?
    public var bool: Bool?
    public var strings: [String]?
    public var integers: [Int64]?
    public var numbers: [Double]?
    public var bools: [Bool]?

    init(key: String, type: String) { self.key = key; self.type = type }

    /// Records of every entry of `md`, in order.
    public static func records(_ md: GGUFMetadata) throws -> [MetadataRecord] {
        try md.entries.map { try MetadataRecord(key: $0.key, value: $0.value) }
    }

    /// The metadata the records describe (keys in record order).
    public static func metadata(_ records: [MetadataRecord]) throws -> GGUFMetadata {
        var md = GGUFMetadata()
        for r in records { md[r.key] = try r.value() }
        return md
    }

    public init(key: String, value: GGUFValue) throws {
        self.init(key: key, type: value.type.description)
        switch value {
        case let .array(t, a):
            elementType = t.description
            switch t {
            case .string: strings = a.map { $0.string ?? "" }
            case .bool: bools = a.map { $0.bool ?? false }
            case .float32, .float64: numbers = a.map { $0.double ?? 0 }
            case .array: throw FinetuneError.config("metadata key \(key): nested arrays are not supported in a checkpoint")
            default: integers = try a.map { try MetadataRecord.integer(of: $0, key: key) }
            }
        case let .string(s): string = s
        case let .bool(b): bool = b
        case let .float32(f): number = Double(f)
        case let .float64(d): number = d
        default: integer = try MetadataRecord.integer(of: value, key: key)
        }
    }

    static func integer(of v: GGUFValue, key: String) throws -> Int64 {
        switch v {
        case let .uint64(u):
            guard let i = Int64(exactly: u) else { throw FinetuneError.config("metadata key \(key): \(u) does not fit a checkpoint integer") }
            return i
        default:
            guard let i = v.int else { throw FinetuneError.config("metadata key \(key): not an integer") }
            return Int64(i)
        }
    }

    static func valueType(_ name: String, key: String) throws -> GGUFValueType {
        guard let t = GGUFValueType.allCases.first(where: { $0.description == name }) else {
            throw FinetuneError.config("metadata key \(key): unknown type \(name)")
        }
        return t
    }

    static func scalar(_ t: GGUFValueType, integer i: Int64, key: String) throws -> GGUFValue {
        func fit<T: FixedWidthInteger>(_: T.Type) throws -> T {
            guard let v = T(exactly: i) else { throw FinetuneError.config("metadata key \(key): \(i) out of range for \(t)") }
            return v
        }
        switch t {
        case .uint8: return .uint8(try fit(UInt8.self))
        case .int8: return .int8(try fit(Int8.self))
        case .uint16: return .uint16(try fit(UInt16.self))
        case .int16: return .int16(try fit(Int16.self))
        case .uint32: return .uint32(try fit(UInt32.self))
        case .int32: return .int32(try fit(Int32.self))
        case .uint64: return .uint64(try fit(UInt64.self))
        case .int64: return .int64(i)
        default: throw FinetuneError.config("metadata key \(key): \(t) is not an integer type")
        }
    }

    /// The GGUF value this record holds.
    public func value() throws -> GGUFValue {
        let t = try MetadataRecord.valueType(type, key: key)
        let missing = FinetuneError.config("metadata key \(key): no value for type \(type)")
        switch t {
        case .string: guard let string else { throw missing }; return .string(string)
        case .bool: guard let bool else { throw missing }; return .bool(bool)
        case .float32: guard let number else { throw missing }; return .float32(Float(number))
        case .float64: guard let number else { throw missing }; return .float64(number)
        case .array:
            guard let e = elementType else { throw missing }
            let et = try MetadataRecord.valueType(e, key: key)
            switch et {
            case .string: guard let strings else { throw missing }; return .array(.string, strings.map { .string($0) })
            case .bool: guard let bools else { throw missing }; return .array(.bool, bools.map { .bool($0) })
            case .float32: guard let numbers else { throw missing }; return .array(.float32, numbers.map { .float32(Float($0)) })
            case .float64: guard let numbers else { throw missing }; return .array(.float64, numbers.map { .float64($0) })
            case .array: throw FinetuneError.config("metadata key \(key): nested arrays are not supported in a checkpoint")
            default:
                guard let integers else { throw missing }
                return .array(et, try integers.map { try MetadataRecord.scalar(et, integer: $0, key: key) })
            }
        default:
            guard let integer else { throw missing }
            return try MetadataRecord.scalar(t, integer: integer, key: key)
        }
    }
}
