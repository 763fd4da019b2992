; Shared by JavaScript, TypeScript and TSX (not a language of its own).

(method_definition
  name: [
    (property_identifier)
    (private_property_identifier)
  ] @name) @definition.method

[
  (class
    name: (_) @name)
  (class_declaration
    name: (_) @name)
] @definition.class

[
  (function_expression
    name: (identifier) @name)
  (function_declaration
    name: (identifier) @name)
  (generator_function
    name: (identifier) @name)
  (generator_function_declaration
    name: (identifier) @name)
] @definition.function

(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [
      (arrow_function)
      (function_expression)
    ]) @definition.function)

(variable_declaration
  (variable_declarator
    name: (identifier) @name
    value: [
      (arrow_function)
      (function_expression)
    ]) @definition.function)

(assignment_expression
  left: [
    (identifier) @name
    (member_expression
      property: (property_identifier) @name)
  ]
  right: [
    (arrow_function)
    (function_expression)
  ]) @definition.function

(pair
  key: (property_identifier) @name
  value: [
    (arrow_function)
    (function_expression)
  ]) @definition.function

(export_statement
  declaration: (lexical_declaration
    (variable_declarator
      name: (identifier) @name
      value: [
        (number)
        (string)
        (template_string)
        (object)
        (array)
        (new_expression)
        (call_expression)
      ]) @definition.constant))

((call_expression
  function: (identifier) @reference.call)
  (#not-match? @reference.call "^(require)$"))

(call_expression
  function: (member_expression
    property: (property_identifier) @reference.call))

(new_expression
  constructor: (identifier) @reference.class)
