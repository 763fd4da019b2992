; inherits: _ecma
; TypeScript: the shared JavaScript patterns plus types, interfaces, enums and namespaces.

(function_signature
  name: (identifier) @name) @definition.function

(method_signature
  name: (property_identifier) @name) @definition.method

(abstract_method_signature
  name: (property_identifier) @name) @definition.method

(abstract_class_declaration
  name: (type_identifier) @name) @definition.class

(interface_declaration
  name: (type_identifier) @name) @definition.interface

(type_alias_declaration
  name: (type_identifier) @name) @definition.type

(enum_declaration
  name: (identifier) @name) @definition.enum

(module
  name: [
    (identifier)
    (string)
  ] @name) @definition.module

(internal_module
  name: (identifier) @name) @definition.module

(type_annotation
  (type_identifier) @reference.type)

(extends_clause
  value: (identifier) @reference.class)

(extends_type_clause
  type: (type_identifier) @reference.class)

(implements_clause
  [
    (type_identifier) @reference.implementation
    (generic_type name: (type_identifier) @reference.implementation)
  ])
