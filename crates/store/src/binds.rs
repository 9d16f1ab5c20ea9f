//! Binding a statement's values in one call: `.binds((a, b, c))` binds `$1`, `$2`, `$3` in
//! order, for every kind of sqlx query (statements, rows, scalars).

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Any, Encode, Type};

/// A query that takes values for its `$N` placeholders.
pub(crate) trait Bind<'q>: Sized {
    fn bind_value<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self;

    /// Binds each of `values` (a tuple), in order.
    fn binds(self, values: impl Values<'q>) -> Self {
        values.bind_to(self)
    }
}

impl<'q> Bind<'q> for Query<'q, Any, AnyArguments<'q>> {
    fn bind_value<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, R> Bind<'q> for QueryAs<'q, Any, R, AnyArguments<'q>> {
    fn bind_value<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self {
        self.bind(value)
    }
}

impl<'q, O> Bind<'q> for QueryScalar<'q, Any, O, AnyArguments<'q>> {
    fn bind_value<T: 'q + Encode<'q, Any> + Type<Any>>(self, value: T) -> Self {
        self.bind(value)
    }
}

/// A tuple of values to bind, in order.
pub(crate) trait Values<'q> {
    fn bind_to<Q: Bind<'q>>(self, query: Q) -> Q;
}

macro_rules! tuple_values {
    ($($v:ident),+) => {
        impl<'q, $($v: 'q + Encode<'q, Any> + Type<Any>),+> Values<'q> for ($($v,)+) {
            #[allow(non_snake_case)]
            fn bind_to<Q: Bind<'q>>(self, query: Q) -> Q {
                let ($($v,)+) = self;
                query$(.bind_value($v))+
            }
        }
    };
}

/// No values: the statement has no placeholders.
impl<'q> Values<'q> for () {
    fn bind_to<Q: Bind<'q>>(self, query: Q) -> Q {
        query
    }
}

tuple_values!(A);
tuple_values!(A, B);
tuple_values!(A, B, C);
tuple_values!(A, B, C, D);
tuple_values!(A, B, C, D, E);
tuple_values!(A, B, C, D, E, F);
tuple_values!(A, B, C, D, E, F, G);
tuple_values!(A, B, C, D, E, F, G, H);
tuple_values!(A, B, C, D, E, F, G, H, I);
tuple_values!(A, B, C, D, E, F, G, H, I, J);
tuple_values!(A, B, C, D, E, F, G, H, I, J, K);
tuple_values!(A, B, C, D, E, F, G, H, I, J, K, L);
tuple_values!(A, B, C, D, E, F, G, H, I, J, K, L, M);
tuple_values!(A, B, C, D, E, F, G, H, I, J, K, L, M, N);
